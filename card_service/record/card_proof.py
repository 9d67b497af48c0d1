"""The card proof: the verifier's fresh challenge signed by the chip (INTERNAL AUTHENTICATE).

The MSO binds the card's own P-256 key (deviceKeyInfo).  A verifier that talks to the card
sends a fresh challenge of 8-64 bytes; the card signs ``CARD_AUTH_DOMAIN || challenge`` with
the private key that never leaves it and answers ``r || s``.  A copy of the record on another
chip cannot do that: when the signature does not verify with deviceKey, or when a proof is
required and absent, the verdict is CLONED (docs/record-format.md, "Card authentication").
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card.wire import CARD_AUTH_DOMAIN, CHALLENGE_MAX_LENGTH, CHALLENGE_MIN_LENGTH

from .cose import raw_to_der
from .verdict import Reason, Verdict

__all__ = ["CardProof", "check_card_proof"]

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class CardProof:
    """The verifier's fresh challenge and the card's INTERNAL AUTHENTICATE response (r||s)."""

    challenge: bytes
    signature: bytes


def check_card_proof(
    device_key: ec.EllipticCurvePublicKey | None,
    proof: CardProof | None,
    required: bool,
    reasons: list[Reason],
) -> bool:
    """Whether ``proof`` shows the chip holds the key of deviceKeyInfo; problems go to
    ``reasons``.  Without a proof nothing is proved (CLONED only if ``required``)."""
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
