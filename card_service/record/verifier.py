"""The verifier: record or presentation in, :class:`VerificationResult` out.  Never raises on data.

What is checked (each failure is a :class:`Reason`; see :mod:`.verdict` for precedence):

* structure: size (EF.Record capacity), strict CBOR, IssuerSigned, COSE_Sign1, MSO (MALFORMED),
  by the record's one parser (:mod:`.record_parser`, :mod:`.cose`, :mod:`.mso`);
* the signer chain against the *configured* trust anchors (:mod:`.signer_check`, by
  :func:`keys.trust.validate_signer` at the MSO ``signed`` time): untrusted chain, signing
  outside the signer's window -> FORGED; signer on the root's CRL, or no current CRL to tell
  -> SIGNER_REVOKED; signer certificate expired now -> EXPIRED;
* the COSE signature, the docType, every disclosed element's digest, unknown or duplicate
  digest IDs -> FORGED / MALFORMED (:mod:`.item_check`);
* the validity window -> NOT_YET_VALID / EXPIRED; the permit's revocation status -> REVOKED;
* with a status list (``status``, :mod:`.status_ref`): the record's status reference looked
  up in it -> REVOKED (INVALID) or SUSPENDED; no statement (no list, expired, bad signature,
  index beyond it, another list's URI, a format-1 record without a reference) ->
  STATUS_UNKNOWN, a reason of its own, never VALID and never REVOKED;
* the card proof (:mod:`.card_proof`): the verifier's own challenge signed by the key in
  deviceKeyInfo -> CLONED when it does not verify, or when it is required and absent;
* endorsements (:mod:`.endorsement_check`): signature, signer, binding to this permit and
  MSO, sequence, period rules; no endorsement covering today's local date past a due date
  -> SUSPENDED.

**Speed.**  A validated signer chain is cached per :class:`Verifier` keyed by the x5chain DER
bytes, together with the time intervals over which that validation stays true (certificate
validity, signing window, CRL currency).  A repeated verification with a known signer does
only the signature checks and digests the floor of ``bench/verify.py`` measures, plus CBOR
decoding.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from keys.clock import NaiveDateTime, require_utc
from keys.trust import TrustList

from .card_proof import CardProof, check_card_proof
from .cbor_types import as_date
from .cose import CoseError, parse_sign1
from .data import MANDATORY_ELEMENTS
from .endorsement_check import check_endorsements
from .item_check import check_items
from .mso import DOC_TYPE, MSO_VERSION_1, MsoError, MsoInfo, mso_digest, parse_mso
from .record_parser import ParsedItem, RecordFormatError, decode_record, parse_record
from .schedule import full_years, local_date
from .signer_check import CLOCK_SKEW, SignerChecker
from .status_ref import StatusKind, StatusLookup
from .verdict import Reason, Verdict, VerificationResult, decide

__all__ = [
    "CLOCK_SKEW",
    "CardProof",
    "Reason",
    "RevocationEntry",
    "RevocationStatus",
    "Verdict",
    "VerificationResult",
    "Verifier",
    "verify",
]


@dataclass(frozen=True)
class RevocationEntry:
    """A permit's revocation as the register reports it."""

    revoked_at: dt.datetime
    reason: str = "unspecified"


#: ``(permit_number, now) -> RevocationEntry | None``: the register's answer.
RevocationStatus = Callable[[str, dt.datetime], RevocationEntry | None]


class Verifier:
    """Verifies records against one trust list.  Reuse it: it caches validated signers.

    ``revocation`` answers whether a permit number is revoked; without it no permit is
    considered revoked (the signer CRL is always checked).  ``status`` looks the record's
    status reference up in a status list (offline verification); without it the reference
    is not consulted.
    """

    def __init__(
        self,
        trust: TrustList,
        *,
        revocation: RevocationStatus | None = None,
        status: StatusLookup | None = None,
        doc_type: str = DOC_TYPE,
    ) -> None:
        self._trust = trust
        self.revocation = revocation
        self.status = status
        self.doc_type = doc_type
        self._signers = SignerChecker(trust)

    @property
    def trust(self) -> TrustList:
        """The trust list (read-only: the signer cache is only valid for this one)."""
        return self._trust

    def verify(
        self,
        record: bytes,
        *,
        now: dt.datetime,
        endorsements: bytes | Sequence[bytes] = b"",
        card_proof: CardProof | None = None,
        require_card_proof: bool = False,
    ) -> VerificationResult:
        """Verify ``record`` (full record or presentation) at ``now``.  Never raises on data.

        ``endorsements`` is the content of EF.Endorsements (a CBOR sequence) or a list of
        encoded items.  With ``require_card_proof`` a missing ``card_proof`` is CLONED.  A
        naive ``now`` is a programming error: :class:`keys.clock.NaiveDateTime` (a
        ``ValueError``), not a verdict.
        """
        try:
            now = require_utc(now)
        except NaiveDateTime:
            raise
        except Exception:  # a tzinfo that cannot convert: as unusable as none
            raise NaiveDateTime("now must be timezone-aware (UTC)") from None
        try:
            return self._verify(record, now, endorsements, card_proof, require_card_proof)
        except Exception as exc:  # the verifier never raises on bad data
            reason = Reason("internal_error", Verdict.MALFORMED, f"unexpected {type(exc).__name__}")
            return VerificationResult(Verdict.MALFORMED, (reason,))

    def _verify(
        self,
        record: bytes,
        now: dt.datetime,
        endorsements: bytes | Sequence[bytes],
        card_proof: CardProof | None,
        require_card_proof: bool,
    ) -> VerificationResult:
        reasons: list[Reason] = []

        def done(**kw: Any) -> VerificationResult:
            verdict = decide(reasons)
            if verdict in (Verdict.FORGED, Verdict.MALFORMED):
                # nothing in an unauthenticated record is a fact: expose no values
                kw.pop("elements", None)
                kw.pop("years_of_residence", None)
            return VerificationResult(verdict, tuple(reasons), **kw)

        try:
            decoded = decode_record(record)
        except RecordFormatError as exc:
            reasons.append(Reason(exc.code, Verdict.MALFORMED, str(exc)))
            return done()
        try:
            auth = parse_sign1(decoded.issuer_auth)
        except CoseError as exc:
            reasons.append(Reason(f"issuer_auth_{exc.code}", Verdict.MALFORMED, str(exc)))
            return done()
        try:
            mso = parse_mso(auth.payload)
        except MsoError as exc:
            reasons.append(Reason(exc.code, Verdict.MALFORMED, str(exc)))
            return done()

        if mso.doc_type != self.doc_type:
            reasons.append(
                Reason("doctype_mismatch", Verdict.FORGED, "docType is not a residence permit")
            )
        signer_key, chain_reasons = self._signers.check(auth.x5chain, mso.signed, now, "")
        reasons.extend(chain_reasons)
        if signer_key is not None and not auth.verify(signer_key):
            reasons.append(
                Reason("signature_invalid", Verdict.FORGED, "issuerAuth signature does not verify")
            )

        parsed = parse_record(decoded, signed_digests=mso.value_digests)
        carried = frozenset(e.identifier for e in parsed.entries if isinstance(e, ParsedItem))
        elements, present = check_items(parsed, mso.value_digests, reasons)
        for name in MANDATORY_ELEMENTS:
            if name not in present:
                reasons.append(
                    Reason(
                        "mandatory_element_missing",
                        Verdict.MALFORMED,
                        "a mandatory element is not disclosed",
                        name,
                    )
                )

        if now < mso.valid_from:
            reasons.append(Reason("not_yet_valid", Verdict.NOT_YET_VALID, "before validFrom"))
        if now >= mso.valid_until:
            reasons.append(Reason("expired", Verdict.EXPIRED, "after validUntil"))
        self._check_revocation(elements.get("permit_number"), now, reasons)
        self._check_status(mso, now, reasons)

        card_ok = check_card_proof(mso.device_key, card_proof, require_card_proof, reasons)

        digest = mso_digest(auth.payload)
        count, status = check_endorsements(
            endorsements, elements, digest, now, self._signers, reasons
        )
        if status is not None and status.suspended:
            reasons.append(
                Reason(
                    "endorsement_overdue",
                    Verdict.SUSPENDED,
                    "an annual endorsement is overdue (suspended until endorsed)",
                )
            )
        years = None
        began = as_date(elements.get("residence_began"))
        if began is not None:
            start = status.residence_counted_from if status is not None else None
            years = full_years(start or began, local_date(now))
        return done(
            elements=elements,
            doc_type=mso.doc_type,
            signer=self._signers.subject(auth.x5chain),
            signed_at=mso.signed,
            valid_from=mso.valid_from,
            valid_until=mso.valid_until,
            card_authenticated=card_ok,
            endorsements_verified=count,
            endorsement=status,
            years_of_residence=years,
            status_index=None if mso.status is None else mso.status.idx,
            status_uri=None if mso.status is None else mso.status.uri,
            record_format=1 if mso.version == MSO_VERSION_1 else 2,
            mso_digest=digest.hex(),
            carried=carried,
        )

    def _check_status(self, mso: MsoInfo, now: dt.datetime, reasons: list[Reason]) -> None:
        """The record's status reference in the status list (only when one is consulted).

        INVALID is REVOKED, SUSPENDED is SUSPENDED; anything else that is not VALID (the
        list could not say, the record has no reference) is STATUS_UNKNOWN with its reason:
        never silently VALID, never REVOKED."""
        if self.status is None:
            return
        if mso.status is None:
            reasons.append(
                Reason(
                    "status_unknown_no_reference",
                    Verdict.STATUS_UNKNOWN,
                    "the record (format 1) carries no status reference",
                )
            )
            return
        try:
            answer = self.status(mso.status, now)
            kind, why = answer.kind, answer.reason
        except Exception:  # a failing source says nothing: unknown, not valid
            kind, why = StatusKind.UNKNOWN, "unavailable"
        if kind is StatusKind.VALID:
            return
        if kind is StatusKind.INVALID:
            reasons.append(
                Reason("status_revoked", Verdict.REVOKED, "the status list says revoked")
            )
        elif kind is StatusKind.SUSPENDED:
            reasons.append(
                Reason("status_suspended", Verdict.SUSPENDED, "the status list says suspended")
            )
        else:
            code = why if why is not None and why.replace("_", "").isalnum() else "unavailable"
            reasons.append(
                Reason(
                    f"status_unknown_{code[:40]}",
                    Verdict.STATUS_UNKNOWN,
                    "the revocation status is unknown (no usable status list statement)",
                )
            )

    def _check_revocation(
        self, permit_number: object, now: dt.datetime, reasons: list[Reason]
    ) -> None:
        """The permit's own revocation, as the register reports it (fail closed)."""
        if self.revocation is None or not isinstance(permit_number, str):
            return
        try:
            entry = self.revocation(permit_number, now)
            revoked = entry is not None and entry.revoked_at <= now
        except Exception:
            reasons.append(
                Reason(
                    "revocation_status_unavailable",
                    Verdict.REVOKED,
                    "the revocation status could not be obtained",
                )
            )
            return
        if revoked:
            reasons.append(Reason("permit_revoked", Verdict.REVOKED, "the permit is revoked"))


def verify(
    record: bytes,
    *,
    trust: TrustList,
    now: dt.datetime,
    endorsements: bytes | Sequence[bytes] = b"",
    card_proof: CardProof | None = None,
    require_card_proof: bool = False,
    revocation: RevocationStatus | None = None,
    status: StatusLookup | None = None,
) -> VerificationResult:
    """One-shot verification (no cache reuse; prefer a long-lived :class:`Verifier`)."""
    return Verifier(trust, revocation=revocation, status=status).verify(
        record,
        now=now,
        endorsements=endorsements,
        card_proof=card_proof,
        require_card_proof=require_card_proof,
    )
