"""The verifier's judgement of a signer chain (the record's x5chain or an endorsement's).

The chain is validated by the key layer, :func:`keys.trust.validate_signer`, against the
*configured* trust anchors at the signing time (a root carried in x5chain is never an anchor);
its one CRL rule (the CRL signed by the key that issued the signer, current at ``now``) is
the key layer's too (:func:`keys.trust.signer_crl`).  This module turns the outcome into
reasons, deciding on ``SignerValidationError.reason`` (a :class:`keys.errors.SignerFailure`),
never on the message:

* untrusted chain, or signing outside the signer's window -> FORGED;
* signer on the CRL of the key that issued it, or no current CRL to tell -> SIGNER_REVOKED;
* signer certificate expired now -> EXPIRED (if a configured anchor issued it, else FORGED).

A genuine signer (issued by a configured anchor) that is revoked, or whose revocation cannot
be told, is reported as such whatever else is wrong with the chain: ``validate_signer`` stops
at its first failure and checks the CRL last, so for other failures the CRL is consulted here.

**Cache.**  A validated chain is remembered, keyed by the x5chain DER bytes, with the ranges
of ``now`` (certificate and CRL validity, :func:`keys.trust.signer_trust_range`) and of the
signing time (certificate validity and signing window) over which the validation stays true.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from keys.errors import SignerFailure, SignerValidationError
from keys.trust import (
    TrustList,
    issuing_certificate,
    signer_crl,
    signer_trust_range,
    validate_signer,
)

from .verdict import Reason, Verdict

__all__ = ["CLOCK_SKEW", "SignerChecker"]

logger = logging.getLogger(__name__)

#: A signing time at most this far after the verifier's ``now`` is taken as ``now``.
CLOCK_SKEW = dt.timedelta(minutes=5)
_CACHE_LIMIT = 256

#: Failures that mean the signer could not sign at that time.
_WINDOW_FAILURES = frozenset(
    {
        SignerFailure.OUTSIDE_SIGNING_WINDOW,
        SignerFailure.NO_SIGNING_WINDOW,
        SignerFailure.SIGNED_IN_FUTURE,
    }
)
#: Failures that mean the signer's revocation status cannot be told.
_REVOCATION_UNKNOWN = frozenset(
    {SignerFailure.NO_CRL, SignerFailure.CRL_INVALID, SignerFailure.CRL_NOT_CURRENT}
)


@dataclass(frozen=True)
class _Signer:
    """A validated chain and the ranges of ``now`` and ``at`` over which that stays true."""

    public_key: ec.EllipticCurvePublicKey
    subject: str
    now_range: tuple[dt.datetime, dt.datetime]
    at_range: tuple[dt.datetime, dt.datetime]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """A naive UTC time of ``cryptography``'s extension API as an aware one."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


class SignerChecker:
    """Judges signer chains against one trust list and caches the ones that validated."""

    def __init__(self, trust: TrustList) -> None:
        self.trust = trust
        self._signers: dict[tuple[bytes, ...], _Signer] = {}

    def subject(self, ders: tuple[bytes, ...]) -> str | None:
        """The subject of a chain validated (and still cached), else ``None``."""
        cached = self._signers.get(ders)
        return None if cached is None else cached.subject

    def check(
        self, ders: tuple[bytes, ...], at: dt.datetime, now: dt.datetime, what: str
    ) -> tuple[ec.EllipticCurvePublicKey | None, list[Reason]]:
        """The signer's public key (if its certificate parses) and the chain's problems.

        ``at`` is the signing time, ``now`` the verifier's (both UTC); ``what`` prefixes the
        reason codes (``""`` for the record, ``"endorsement_"``).
        """
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
            return public_key, [_untrusted(what)]
        try:
            validate_signer(self.trust, certs, at=at, now=now)
        except SignerValidationError as exc:
            try:
                return public_key, [self._classify(leaf, at, now, exc, what)]
            except Exception:
                return public_key, [_untrusted(what, str(exc))]
        except Exception:  # a certificate cryptography cannot even evaluate
            return public_key, [_untrusted(what, "signer certificate cannot be validated")]
        try:
            self._remember(ders, leaf, public_key)
        except Exception:  # caching is an optimisation only
            logger.debug("signer chain not cached", exc_info=True)
        return public_key, []

    def _issued_by_anchor(self, cert: x509.Certificate) -> bool:
        """Signed by a trusted root, or by a link certificate one vouches for (rollover)."""
        return issuing_certificate(self.trust, cert) is not None

    def _classify(
        self,
        leaf: x509.Certificate,
        at: dt.datetime,
        now: dt.datetime,
        error: SignerValidationError,
        what: str,
    ) -> Reason:
        """The reason for a chain ``validate_signer`` refused: decided on ``error.reason``."""
        failure = error.reason
        if failure is SignerFailure.REVOKED:
            return _revoked(what)
        if failure in _REVOCATION_UNKNOWN:
            return _revocation_unknown(what)
        if self._issued_by_anchor(leaf):
            # validate_signer stopped before its CRL step: a genuine signer's revocation
            # still comes first (SIGNER_REVOKED), by the key layer's CRL rule
            crl = signer_crl(self.trust, leaf, now)
            if crl is None:
                return _revocation_unknown(what)
            if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
                return _revoked(what)
            if failure in _WINDOW_FAILURES or not leaf.not_valid_before_utc <= at <= now:
                return Reason(
                    f"{what}signer_not_valid_at_signing",
                    Verdict.FORGED,
                    "signed outside the signer's validity or signing window",
                )
        return _untrusted(what, str(error))

    def _remember(
        self, ders: tuple[bytes, ...], leaf: x509.Certificate, key: ec.EllipticCurvePublicKey
    ) -> None:
        trusted = signer_trust_range(self.trust, leaf)  # leaf, issuer (root or link), CRLs
        if trusted is None:
            return
        at_lo, at_hi = leaf.not_valid_before_utc, leaf.not_valid_after_utc
        try:
            window = leaf.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
        except x509.ExtensionNotFound:
            return
        at_lo = max(at_lo, _utc(window.not_before) or at_lo)
        at_hi = min(at_hi, _utc(window.not_after) or at_hi)
        if len(self._signers) >= _CACHE_LIMIT:
            self._signers.clear()
        self._signers[ders] = _Signer(key, leaf.subject.rfc4514_string(), trusted, (at_lo, at_hi))


def _untrusted(
    what: str, message: str = "signer is not certified by a configured trust anchor"
) -> Reason:
    return Reason(f"{what}signer_untrusted", Verdict.FORGED, message)


def _revoked(what: str) -> Reason:
    return Reason(f"{what}signer_revoked", Verdict.SIGNER_REVOKED, "the signer is revoked")


def _revocation_unknown(what: str) -> Reason:
    return Reason(
        f"{what}signer_revocation_unknown",
        Verdict.SIGNER_REVOKED,
        "no current CRL of the signer's root: revocation status unknown",
    )
