"""The verifier: record or presentation in, :class:`VerificationResult` out.  Never raises on data.

What is checked (each failure is a :class:`Reason`; see :mod:`.verdict` for precedence):

* structure: size (EF.Record capacity), strict CBOR, IssuerSigned, COSE_Sign1, MSO (MALFORMED);
* the signer chain against the *configured* trust anchors with :func:`keys.trust.validate_signer`
  at the MSO ``signed`` time (a root carried in x5chain is never an anchor): untrusted chain,
  signing outside the signer's window -> FORGED; signer on the root's CRL, or no current CRL
  to tell -> SIGNER_REVOKED; signer certificate expired now -> EXPIRED;
* the COSE signature, the docType, every disclosed element's digest, unknown or duplicate
  digest IDs -> FORGED / MALFORMED;
* the validity window -> NOT_YET_VALID / EXPIRED; the permit's revocation status -> REVOKED;
* the card proof: the verifier's own challenge signed by the key in deviceKeyInfo -> CLONED
  when it does not verify, or when it is required and absent;
* endorsements: signature, signer, binding to this permit and MSO, sequence, period rules;
  no endorsement covering today's local date past a due date -> SUSPENDED.

**Speed.**  A validated signer chain is cached per :class:`Verifier` keyed by the x5chain DER
bytes, together with the time intervals over which that validation stays true (certificate
validity, signing window, CRL currency).  A repeated verification with a known signer does
only the signature checks and digests the floor of ``bench/verify.py`` measures, plus CBOR
decoding.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cbor2 import CBORTag
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card.wire import CARD_AUTH_DOMAIN, CHALLENGE_MAX_LENGTH, CHALLENGE_MIN_LENGTH
from keys.errors import SignerValidationError
from keys.trust import (
    TrustList,
    issuing_certificate,
    signer_crl,
    signer_trust_range,
    validate_signer,
)

from .cbor_types import (
    ITEM_TAGS,
    CborError,
    array_header,
    as_date,
    is_deterministic,
    loads,
    loads_prefix,
)
from .cose import CoseError, Sign1, parse_sign1, raw_to_der
from .data import ELEMENT_TYPES, MANDATORY_ELEMENTS
from .endorsement import (
    EndorsementFormatError,
    decode_endorsement,
    parse_endorsement_body,
    split_endorsements,
)
from .issuer_signed import (
    ITEM_KEYS,
    SALT_BYTES,
    RecordFormatError,
    check_item,
    decode_record,
)
from .mso import DOC_TYPE, NAMESPACE, MsoError, mso_digest, parse_mso
from .schedule import endorsement_status, full_years, local_date
from .verdict import Reason, Verdict, VerificationResult, decide

__all__ = [
    "CardProof",
    "RevocationEntry",
    "RevocationStatus",
    "Verifier",
    "verify",
]

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
#: A signing time at most this far after the verifier's ``now`` is taken as ``now``.
CLOCK_SKEW = dt.timedelta(minutes=5)
_CACHE_LIMIT = 256


@dataclass(frozen=True)
class CardProof:
    """The verifier's fresh challenge and the card's INTERNAL AUTHENTICATE response (r||s)."""

    challenge: bytes
    signature: bytes


@dataclass(frozen=True)
class RevocationEntry:
    """A permit's revocation as the register reports it."""

    revoked_at: dt.datetime
    reason: str = "unspecified"


#: ``(permit_number, now) -> RevocationEntry | None``; the permit register comes later.
RevocationStatus = Callable[[str, dt.datetime], RevocationEntry | None]


@dataclass(frozen=True)
class _Signer:
    """A validated chain and the ranges of ``now`` and ``at`` over which that stays true."""

    public_key: ec.EllipticCurvePublicKey
    subject: str
    now_range: tuple[dt.datetime, dt.datetime]
    at_range: tuple[dt.datetime, dt.datetime]


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


class Verifier:
    """Verifies records against one trust list.  Reuse it: it caches validated signers.

    ``revocation`` answers whether a permit number is revoked; without it no permit is
    considered revoked (the signer CRL is always checked).
    """

    def __init__(
        self,
        trust: TrustList,
        *,
        revocation: RevocationStatus | None = None,
        doc_type: str = DOC_TYPE,
    ) -> None:
        self._trust = trust
        self.revocation = revocation
        self.doc_type = doc_type
        self._signers: dict[tuple[bytes, ...], _Signer] = {}

    @property
    def trust(self) -> TrustList:
        """The trust list (read-only: the signer cache is only valid for this one)."""
        return self._trust

    # -- signer chain ---------------------------------------------------------------------

    def _signer(
        self, ders: tuple[bytes, ...], at: dt.datetime, now: dt.datetime, what: str
    ) -> tuple[ec.EllipticCurvePublicKey | None, list[Reason]]:
        """The signer's public key (if its certificate parses) and the chain's problems."""
        if now < at <= now + CLOCK_SKEW:
            at = now  # the issuer's clock may run slightly ahead of ours
        cached = self._signers.get(ders)
        if (
            cached is not None
            and at <= now
            and cached.now_range[0] <= now <= cached.now_range[1]
            and cached.at_range[0] <= at <= cached.at_range[1]
        ):
            return cached.public_key, []
        try:  # certificates parse lazily: touch what we use
            certs = [x509.load_der_x509_certificate(d) for d in ders]
            leaf = certs[0]
            public_key = leaf.public_key()
            _ = (leaf.not_valid_before_utc, leaf.not_valid_after_utc, leaf.issuer)
        except Exception:
            return None, [
                Reason(f"{what}x5chain_unparsable", Verdict.MALFORMED, "x5chain is not X.509 DER")
            ]
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
            public_key.curve, ec.SECP256R1
        ):
            return None, [
                Reason(f"{what}signer_key_type", Verdict.FORGED, "signer key is not EC P-256")
            ]
        if now > leaf.not_valid_after_utc:
            if self._issued_by_anchor(leaf):
                return public_key, [
                    Reason(
                        f"{what}signer_expired",
                        Verdict.EXPIRED,
                        "the signer certificate has expired",
                    )
                ]
            return public_key, [
                Reason(
                    f"{what}signer_untrusted",
                    Verdict.FORGED,
                    "signer is not certified by a configured trust anchor",
                )
            ]
        try:
            validate_signer(self._trust, certs, at=at, now=now)
        except SignerValidationError as exc:
            try:
                return public_key, [self._classify(leaf, at, now, str(exc), what)]
            except Exception:
                return public_key, [Reason(f"{what}signer_untrusted", Verdict.FORGED, str(exc))]
        except Exception:  # a certificate cryptography cannot even evaluate
            return public_key, [
                Reason(
                    f"{what}signer_untrusted",
                    Verdict.FORGED,
                    "signer certificate cannot be validated",
                )
            ]
        try:
            self._remember(ders, leaf, public_key)
        except Exception:  # noqa: S110 - caching is an optimisation only
            pass
        return public_key, []

    def _issued_by_anchor(self, cert: x509.Certificate) -> bool:
        """Signed by a trusted root, or by a link certificate one vouches for (rollover)."""
        return issuing_certificate(self._trust, cert) is not None

    def _classify(
        self, leaf: x509.Certificate, at: dt.datetime, now: dt.datetime, message: str, what: str
    ) -> Reason:
        anchored = self._issued_by_anchor(leaf)
        if anchored:
            crl = signer_crl(self._trust, leaf, now)  # the CRL of the key that issued it
            if crl is None:
                return Reason(
                    f"{what}signer_revocation_unknown",
                    Verdict.SIGNER_REVOKED,
                    "no current CRL of the signer's root: revocation status unknown",
                )
            if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
                return Reason(
                    f"{what}signer_revoked", Verdict.SIGNER_REVOKED, "the signer is revoked"
                )
            if not leaf.not_valid_before_utc <= at <= now or "window" in message:
                return Reason(
                    f"{what}signer_not_valid_at_signing",
                    Verdict.FORGED,
                    "signed outside the signer's validity or signing window",
                )
        return Reason(f"{what}signer_untrusted", Verdict.FORGED, message)

    def _remember(
        self, ders: tuple[bytes, ...], leaf: x509.Certificate, key: ec.EllipticCurvePublicKey
    ) -> None:
        trusted = signer_trust_range(self._trust, leaf)  # leaf, issuer (root or link), CRLs
        if trusted is None:
            return
        at_lo, at_hi = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        try:
            window = leaf.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
        except x509.ExtensionNotFound:
            return
        if window.not_before is not None:
            at_lo = max(at_lo, _naive_utc(window.not_before) or at_lo)
        if window.not_after is not None:
            at_hi = min(at_hi, _naive_utc(window.not_after) or at_hi)
        now_range = trusted
        if len(self._signers) >= _CACHE_LIMIT:
            self._signers.clear()
        self._signers[ders] = _Signer(key, leaf.subject.rfc4514_string(), now_range, (at_lo, at_hi))

    # -- verification ---------------------------------------------------------------------

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
        encoded items.  With ``require_card_proof`` a missing ``card_proof`` is CLONED.
        """
        try:
            if not isinstance(now, dt.datetime) or now.tzinfo is None:
                raise ValueError("now must be a timezone-aware datetime")
            now = now.astimezone(dt.UTC)
        except Exception:
            raise ValueError("now must be a timezone-aware datetime") from None
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
            namespaces, issuer_auth, received = decode_record(record)
        except RecordFormatError as exc:
            reasons.append(Reason(exc.code, Verdict.MALFORMED, str(exc)))
            return done()
        try:
            auth = parse_sign1(issuer_auth)
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
        signer_key, chain_reasons = self._signer(auth.x5chain, mso.signed, now, "")
        reasons.extend(chain_reasons)
        if signer_key is not None and not auth.verify(signer_key):
            reasons.append(
                Reason("signature_invalid", Verdict.FORGED, "issuerAuth signature does not verify")
            )

        elements, present = _check_items(namespaces, received, mso.value_digests, reasons)
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

        permit_number = elements.get("permit_number")
        if self.revocation is not None and isinstance(permit_number, str):
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
            else:
                if revoked:
                    reasons.append(
                        Reason("permit_revoked", Verdict.REVOKED, "the permit is revoked")
                    )

        card_ok = self._check_card(mso.device_key, card_proof, require_card_proof, reasons)

        count, status = self._check_endorsements(
            endorsements, elements, mso_digest(auth.payload), now, reasons
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
        cached = self._signers.get(auth.x5chain)
        return done(
            elements=elements,
            doc_type=mso.doc_type,
            signer=cached.subject if cached is not None else None,
            signed_at=mso.signed,
            valid_from=mso.valid_from,
            valid_until=mso.valid_until,
            card_authenticated=card_ok,
            endorsements_verified=count,
            endorsement=status,
            years_of_residence=years,
        )

    @staticmethod
    def _check_card(
        device_key: ec.EllipticCurvePublicKey | None,
        proof: CardProof | None,
        required: bool,
        reasons: list[Reason],
    ) -> bool:
        if device_key is None:
            reasons.append(
                Reason("device_key_invalid", Verdict.MALFORMED, "deviceKeyInfo has no P-256 key")
            )
            return False
        if proof is None:
            if required:
                reasons.append(
                    Reason("card_proof_missing", Verdict.CLONED, "no card authentication proof")
                )
            return False
        challenge, signature = proof.challenge, proof.signature
        if (
            not isinstance(challenge, bytes)
            or not CHALLENGE_MIN_LENGTH <= len(challenge) <= CHALLENGE_MAX_LENGTH
        ):
            reasons.append(
                Reason("card_challenge_length", Verdict.CLONED, "challenge must be 8-64 bytes")
            )
            return False
        if not isinstance(signature, bytes) or len(signature) != 64:
            reasons.append(
                Reason("card_signature_invalid", Verdict.CLONED, "card signature is not r||s")
            )
            return False
        try:
            device_key.verify(raw_to_der(signature), CARD_AUTH_DOMAIN + challenge, _ECDSA_SHA256)
        except Exception:
            reasons.append(
                Reason(
                    "card_signature_invalid",
                    Verdict.CLONED,
                    "the card's signature over this challenge does not verify with deviceKey",
                )
            )
            return False
        return True

    def _check_endorsements(
        self,
        endorsements: bytes | Sequence[bytes],
        elements: dict[str, Any],
        digest: bytes,
        now: dt.datetime,
        reasons: list[Reason],
    ) -> tuple[int, Any]:
        first_due = as_date(elements.get("first_endorsement_due"))
        permit_number = elements.get("permit_number")
        try:
            if isinstance(endorsements, bytes | bytearray | memoryview):
                items = split_endorsements(bytes(endorsements))
            else:
                items = [decode_endorsement(e) for e in endorsements]
        except (EndorsementFormatError, CborError, TypeError):
            reasons.append(
                Reason("endorsements_malformed", Verdict.MALFORMED, "endorsements are not CBOR")
            )
            items = []
        periods: list[tuple[dt.date, dt.date, dt.date]] = []
        for index, item in enumerate(items, start=1):
            try:
                sign1: Sign1 = parse_sign1(item, tagged=True)
                body = parse_endorsement_body(sign1.payload)
            except CoseError as exc:
                reasons.append(Reason(f"endorsement_{exc.code}", Verdict.MALFORMED, str(exc)))
                continue
            except EndorsementFormatError as exc:
                reasons.append(Reason("endorsement_malformed", Verdict.MALFORMED, str(exc)))
                continue
            key, chain_reasons = self._signer(sign1.x5chain, body.endorsed_at, now, "endorsement_")
            reasons.extend(chain_reasons)
            if key is None or not sign1.verify(key):
                reasons.append(
                    Reason(
                        "endorsement_signature_invalid",
                        Verdict.FORGED,
                        "an endorsement signature does not verify",
                    )
                )
                continue
            if body.permit_number != permit_number or body.mso_digest != digest:
                reasons.append(
                    Reason(
                        "endorsement_not_bound",
                        Verdict.FORGED,
                        "an endorsement belongs to another permit or record",
                    )
                )
                continue
            if chain_reasons:
                continue
            if body.sequence != index:
                reasons.append(
                    Reason("endorsement_sequence", Verdict.MALFORMED, "endorsements out of order")
                )
                continue
            periods.append((local_date(body.endorsed_at), body.period_start, body.period_end))
        if first_due is None:
            return len(periods), None
        status = endorsement_status(
            first_due, periods, local_date(now), as_date(elements.get("residence_began"))
        )
        for _ in status.inconsistent:
            reasons.append(
                Reason(
                    "endorsement_period_inconsistent",
                    Verdict.MALFORMED,
                    "an endorsement period breaks the schedule",
                )
            )
        return len(periods) - len(status.inconsistent), status


def _decode_items(
    entries: list[Any], received: list[memoryview], signed: Any, reasons: list[Reason]
) -> list[tuple[Any, bytes, bool]]:
    """``(decoded item, digest, in deterministic encoding)`` for every well-tagged entry.

    The digest is SHA-256 over the IssuerSignedItemBytes exactly as received (ISO/IEC
    18013-5 9.1.2.5).  Fast path: when every item's digest is one of the signed digests, the
    bytes are the issuer's own items, so all of them are decoded with one ``cbor2`` call over
    their concatenation, and their encoding is checked with one re-encoding.  Otherwise each
    is decoded and checked on its own.
    """
    encoded: list[bytes] = []
    digests: list[bytes] = []
    for entry, raw in zip(entries, received, strict=True):
        if type(entry) is not CBORTag or entry.tag != 24 or type(entry.value) is not bytes:
            reasons.append(Reason("item_not_tag24", Verdict.MALFORMED, "item is not #6.24(bstr)"))
            continue
        encoded.append(entry.value)
        digests.append(_sha256(raw).digest())
    if type(signed) is dict and encoded:
        if set(signed.values()).issuperset(digests):
            batch = array_header(len(encoded)) + b"".join(encoded)
            try:
                decoded = loads_prefix(batch, ITEM_TAGS)  # is_deterministic: nothing trailing
            except CborError:
                decoded = None
            if (
                type(decoded) is list
                and len(decoded) == len(encoded)
                and is_deterministic(decoded, batch)
            ):
                return [(i, d, True) for i, d in zip(decoded, digests, strict=True)]
    out: list[tuple[Any, bytes, bool]] = []
    for e, d in zip(encoded, digests, strict=True):
        try:
            item = loads(e, ITEM_TAGS)
        except CborError as exc:
            reasons.append(Reason("item_undecodable", Verdict.MALFORMED, f"item: {exc}"))
            continue
        out.append((item, d, is_deterministic(item, e)))
    return out


def _check_items(
    namespaces: dict[str, list[Any]],
    received: dict[str, list[memoryview]],
    value_digests: Any,
    reasons: list[Reason],
) -> tuple[dict[str, Any], set[str]]:
    """Digest-check every item; return the verified elements and all identifiers seen."""
    elements: dict[str, Any] = {}
    present: set[str] = set()
    for ns, entries in namespaces.items():
        signed = value_digests.get(ns)
        seen_ids: set[int] = set()
        for item, digest, exact in _decode_items(entries, received[ns], signed, reasons):
            # hot path inline (the same rules as issuer_signed.check_item, which handles the
            # rest): keys in deterministic order, uint digestID, 32-byte salt, tstr identifier
            if type(item) is dict and tuple(item) == ITEM_KEYS:
                salt = item["random"]
                digest_id = item["digestID"]
                value = item["elementValue"]
                identifier = item["elementIdentifier"]
                if (
                    type(digest_id) is not int
                    or not 0 <= digest_id < 2**31
                    or type(salt) is not bytes
                    or len(salt) != SALT_BYTES
                    or type(identifier) is not str
                    or not isinstance(value, _SCALARS)
                ):
                    checked = check_item(item)
                else:
                    checked = (digest_id, identifier, value)
            else:
                checked = check_item(item)
                if checked == "item_encoding" and type(item) is dict:  # keys out of order
                    exact = False
                    checked = check_item({k: item[k] for k in ITEM_KEYS})
            if isinstance(checked, str):
                message = _ITEM_ENCODING if checked == "item_encoding" else _ITEM_SHAPE
                reasons.append(Reason(checked, Verdict.MALFORMED, message))
                continue
            if not exact:  # reported, and its digest is still compared (to name a forgery)
                reasons.append(Reason("item_encoding", Verdict.MALFORMED, _ITEM_ENCODING))
            digest_id, identifier, value = checked
            present.add(identifier)
            known = identifier if identifier in ELEMENT_TYPES else None
            if signed is None:
                reasons.append(
                    Reason("namespace_unsigned", Verdict.FORGED, "a namespace has no digests")
                )
                continue
            expected = signed.get(digest_id)
            if expected is None:
                reasons.append(
                    Reason(
                        "digest_id_unknown",
                        Verdict.FORGED,
                        "an element's digest ID is not in the MSO",
                        known,
                    )
                )
                continue
            if digest != expected:
                reasons.append(
                    Reason(
                        "digest_mismatch",
                        Verdict.FORGED,
                        "an element does not match its signed digest",
                        known,
                    )
                )
                continue
            if not exact:
                continue
            # a genuine item present twice is a structural error, not a forgery
            if digest_id in seen_ids:
                reasons.append(
                    Reason("digest_id_duplicate", Verdict.MALFORMED, "a digest ID occurs twice")
                )
                continue
            seen_ids.add(digest_id)
            expected_type = ELEMENT_TYPES.get(identifier)
            if expected_type is None or ns != NAMESPACE:
                continue  # a signed element this version does not know: ignored
            if identifier in elements:
                reasons.append(
                    Reason(
                        "element_duplicate",
                        Verdict.MALFORMED,
                        "an element occurs twice",
                        identifier,
                    )
                )
                continue
            if type(value) is not expected_type:
                reasons.append(
                    Reason(
                        "element_type",
                        Verdict.MALFORMED,
                        "an element has the wrong CBOR type",
                        identifier,
                    )
                )
                continue
            elements[identifier] = value
    return elements, present


_SCALARS = (str, int, bytes, dt.date)
_ITEM_SHAPE = "an IssuerSignedItem is malformed"
_ITEM_ENCODING = "an IssuerSignedItem is not in deterministic encoding"
_sha256 = hashlib.sha256


def verify(
    record: bytes,
    *,
    trust: TrustList,
    now: dt.datetime,
    endorsements: bytes | Sequence[bytes] = b"",
    card_proof: CardProof | None = None,
    require_card_proof: bool = False,
    revocation: RevocationStatus | None = None,
) -> VerificationResult:
    """One-shot verification (no cache reuse; prefer a long-lived :class:`Verifier`)."""
    return Verifier(trust, revocation=revocation).verify(
        record,
        now=now,
        endorsements=endorsements,
        card_proof=card_proof,
        require_card_proof=require_card_proof,
    )
