"""Fixtures of the record tests: an in-memory PKI, a card key and a signed record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from card_service.card.wire import CARD_AUTH_DOMAIN
from card_service.record import CardProof, PermitData, Verifier, sign_record
from card_service.record.cose import der_to_raw
from card_service.record.ephemeral_pki import EphemeralPki, EphemeralSigner
from card_service.record.sample import synthetic_applicant

#: The instant records are signed in these tests.
SIGNED = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
#: The instant they are verified (a day later).
NOW = SIGNED + dt.timedelta(days=1)


def card_proof(card: ec.EllipticCurvePrivateKey, challenge: bytes) -> CardProof:
    """What the card answers to INTERNAL AUTHENTICATE with ``challenge``."""
    signature = card.sign(CARD_AUTH_DOMAIN + challenge, ec.ECDSA(hashes.SHA256()))
    return CardProof(challenge, der_to_raw(signature))


@dataclass
class World:
    pki: EphemeralPki
    signer: EphemeralSigner
    card: ec.EllipticCurvePrivateKey
    data: PermitData
    record: bytes

    def verifier(self, now: dt.datetime = NOW) -> Verifier:
        return Verifier(self.pki.trust(now))

    def sign(self, data: PermitData, signer: EphemeralSigner | None = None) -> bytes:
        signer = signer or self.signer
        return sign_record(
            data,
            card_key=self.card.public_key(),
            signer_key=signer.key,
            signer_chain=signer.chain,
            now=SIGNED,
        )


def make_world(seed: int = 1) -> World:
    pki = EphemeralPki.create(SIGNED - dt.timedelta(days=30))
    signer = pki.new_signer(SIGNED - dt.timedelta(days=10))
    card = ec.generate_private_key(ec.SECP256R1())
    data = synthetic_applicant(SIGNED, seed=seed)
    record = sign_record(
        data,
        card_key=card.public_key(),
        signer_key=signer.key,
        signer_chain=signer.chain,
        now=SIGNED,
    )
    return World(pki, signer, card, data, record)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()
