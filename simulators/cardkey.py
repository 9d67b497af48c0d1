"""The card authentication key: GENERATE ASYMMETRIC KEY PAIR and INTERNAL AUTHENTICATE
(sections 5.8, 5.9)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from card_service.card import wire
from card_service.card.wire import SW, FileId, KeyRef, LifeCycle

from .context import Command, Response, Session
from .status import fail

__all__ = ["generate_key_pair", "internal_authenticate", "public_key_do"]

_COORD = 32


def _private_key(scalar: bytes) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())


def public_key_do(key: ec.EllipticCurvePrivateKey) -> bytes:
    """``7F49 43 86 41 04 || X || Y``."""
    numbers = key.public_key().public_numbers()
    point = b"\x04" + numbers.x.to_bytes(_COORD, "big") + numbers.y.to_bytes(_COORD, "big")
    inner = bytes((wire.TAG_EC_POINT, len(point))) + point
    return wire.TAG_PUBLIC_KEY.to_bytes(2, "big") + bytes((len(inner),)) + inner


def generate_key_pair(s: Session, cmd: Command) -> Response:
    if cmd.p1 not in (0x00, 0x01):
        fail(SW.INCORRECT_P1P2)
    if cmd.p2 != KeyRef.CARD_AUTH_KEY:
        fail(SW.REFERENCED_DATA_NOT_FOUND)
    if cmd.data:
        fail(SW.WRONG_LENGTH)
    lcs = s.life_cycle
    if cmd.p1 == 0x01:  # read back the existing public key
        if lcs in (LifeCycle.BLANK, LifeCycle.TERMINATED):
            fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
        if s.state.card_key is None:
            fail(SW.REFERENCED_DATA_NOT_FOUND)
        return Response(s.state.file(FileId.CARD_KEY))
    if not cmd.wrapped:
        fail(SW.SECURITY_STATUS_NOT_SATISFIED)
    if lcs != LifeCycle.PERSONALISING:
        fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(_COORD, "big")
    public = public_key_do(key)
    new_state = s.state.with_file(FileId.CARD_KEY, public)

    s.commit(replace(new_state, card_key=scalar))  # key and EF.CardKey in one transaction
    return Response(public)


def internal_authenticate(s: Session, cmd: Command) -> Response:
    if cmd.p1 != 0x00:
        fail(SW.INCORRECT_P1P2)
    if cmd.p2 != KeyRef.CARD_AUTH_KEY:
        fail(SW.REFERENCED_DATA_NOT_FOUND)
    if not wire.CHALLENGE_MIN_LENGTH <= len(cmd.data) <= wire.CHALLENGE_MAX_LENGTH:
        fail(SW.WRONG_LENGTH)
    if s.life_cycle in (LifeCycle.BLANK, LifeCycle.TERMINATED):
        fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
    scalar = s.state.card_key
    if scalar is None:
        fail(SW.REFERENCED_DATA_NOT_FOUND)
    # Sign SHA-256(domain || challenge): the domain prefix keeps the card from
    # signing arbitrary data for anyone.
    digest = hashlib.sha256(wire.CARD_AUTH_DOMAIN + cmd.data).digest()

    der = _private_key(scalar).sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    r, s_value = decode_dss_signature(der)
    return Response(r.to_bytes(_COORD, "big") + s_value.to_bytes(_COORD, "big"))
