"""Host side of the issuer secure channel (SCP03 model, docs/card-application.md section 6).

Key material (static keys, session keys, MCV, cryptograms) never appears in a
repr, a log line or an exception message.

The derivation constants, the SCP03 KDF, :class:`StaticKeys` and :func:`diversify_card_keys`
belong to the key library (:mod:`keys.diversify`, their one host-side copy); they are
re-exported here, where the secure channel uses them.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from keys.diversify import (
    KEY_LENGTH,
    KdfConstant,
    StaticKeys,
    aes_cmac,
    diversify_card_keys,
    kdf,
)

from .apdu import MAX_SHORT_NC, MAX_SHORT_NE, CommandApdu, ResponseApdu
from .errors import (
    IssuerAuthenticationFailed,
    IssuerChannelBlocked,
    KeyVersionMismatch,
    ResponseFormatError,
    SecureChannelError,
)
from .protocol import CardProtocol, raise_for_status
from .wire import (
    DIVERSIFICATION_METHOD,
    REQUIRED_SECURITY_LEVEL,
    SCP_I_PARAMETER,
    SCP_ID,
    SW,
    Cla,
    Ins,
)

__all__ = [
    "BLOCK",
    "MAC_LENGTH",
    "SM_CHAIN_CHUNK",
    "InitializeUpdateResponse",
    "KeyProvider",
    "SecureChannel",
    "SessionKeys",
    "StaticKeys",
    "aes_cmac",
    "derive_session_keys",
    "diversify_card_keys",
    "iso_pad",
    "iso_unpad",
    "kdf",
    "open_secure_channel",
]

logger = logging.getLogger(__name__)

BLOCK = 16
#: Key versions run 1-127 (section 6.1); INITIALIZE UPDATE P1 = 0 means "the one the card holds".
MAX_KVN = 0x7F
MAC_LENGTH = 8
CHALLENGE_LENGTH = 8
#: Largest plain chunk whose wrapped form (padded + 8-byte MAC) still fits in a short Lc.
SM_CHAIN_CHUNK = ((MAX_SHORT_NC - MAC_LENGTH) // BLOCK) * BLOCK - 1


def _aes_ecb_block(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - ICV only
    return encryptor.update(block) + encryptor.finalize()


def _cbc(key: bytes, icv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(icv))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def iso_pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2 (``80`` then ``00``) to a multiple of 16."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % BLOCK)


def iso_unpad(data: bytes) -> bytes:
    """Remove ISO/IEC 9797-1 method 2 padding; SecureChannelError if it is wrong."""
    if not data or len(data) % BLOCK:
        raise SecureChannelError("encrypted response is not a whole number of blocks")
    end = len(data) - 1
    while end >= 0 and data[end] == 0 and len(data) - end < BLOCK:
        end -= 1
    if end < 0 or data[end] != 0x80:
        raise SecureChannelError("bad padding in the decrypted response")
    return data[:end]


@dataclass(frozen=True)
class SessionKeys:
    """S-ENC, S-MAC, S-RMAC of one channel session; the repr hides the key bytes."""

    enc: bytes = field(repr=False)
    mac: bytes = field(repr=False)
    rmac: bytes = field(repr=False)


#: A key source for :func:`open_secure_channel`: fixed keys, or keys looked up
#: from the card's serial and key version (diversification on the fly).
KeyProvider = StaticKeys | Callable[[bytes, int], StaticKeys]


def derive_session_keys(
    keys: StaticKeys, host_challenge: bytes, card_challenge: bytes
) -> SessionKeys:
    """Session keys for context ``host_challenge || card_challenge`` (6.2)."""
    context = host_challenge + card_challenge
    bits = KEY_LENGTH * 8
    return SessionKeys(
        enc=kdf(keys.enc, KdfConstant.S_ENC, bits, context),
        mac=kdf(keys.mac, KdfConstant.S_MAC, bits, context),
        rmac=kdf(keys.mac, KdfConstant.S_RMAC, bits, context),
    )


@dataclass(frozen=True)
class InitializeUpdateResponse:
    """The 29-byte INITIALIZE UPDATE response (5.10)."""

    serial: bytes
    kvn: int
    card_challenge: bytes = field(repr=False)
    card_cryptogram: bytes = field(repr=False)

    @classmethod
    def parse(cls, data: bytes) -> InitializeUpdateResponse:
        if len(data) != 29:
            raise ResponseFormatError(f"INITIALIZE UPDATE response has {len(data)} bytes, not 29")
        if data[:2] != DIVERSIFICATION_METHOD:
            raise ResponseFormatError("unknown key diversification method")
        if data[11] != SCP_ID or data[12] != SCP_I_PARAMETER:
            raise ResponseFormatError(
                f"card offers SCP {data[11]:02X} i={data[12]:02X}, expected SCP03 i=60"
            )
        if not 1 <= data[10] <= MAX_KVN:
            raise ResponseFormatError(f"card reports key version {data[10]}, outside 1-127")
        return cls(
            serial=data[2:10], kvn=data[10], card_challenge=data[13:21], card_cryptogram=data[21:29]
        )


class SecureChannel:
    """An open issuer channel wrapping a :class:`CardProtocol` (same ``send`` contract).

    Every command is wrapped (C-MAC + C-DECRYPTION), every response checked
    (R-MAC) and decrypted (R-ENCRYPTION).  After a response check fails, a
    transport error, or a card answer that closes the channel on the card
    (6982 / 6987 / 6988 to a wrapped command), the channel is closed for good:
    further use raises :class:`SecureChannelError`.
    """

    def __init__(self, protocol: CardProtocol, keys: SessionKeys, mcv: bytes) -> None:
        self._protocol = protocol
        self._keys = keys
        self._mcv = mcv
        self._counter = 1
        self._open = True

    def __repr__(self) -> str:
        return f"SecureChannel(open={self._open}, counter={self._counter})"

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def counter(self) -> int:
        """The encryption counter the next command will use."""
        return self._counter

    def close(self) -> None:
        """Forget the session (the card closes its side on SELECT, reset or a plain command)."""
        self._open = False

    def transaction(self) -> AbstractContextManager[None]:
        return self._protocol.transaction()

    def send(self, apdu: CommandApdu, *, reference: int | None = None) -> bytes:
        return raise_for_status(self.transceive(apdu), apdu, reference)

    def transceive(self, apdu: CommandApdu) -> ResponseApdu:
        """Wrap ``apdu`` (chaining the plain command if it must), send it, unwrap the answer."""
        if not self._open:
            raise SecureChannelError("the issuer secure channel is closed")
        with self._protocol.transaction():
            plain_extended = self._protocol.extended_length
            wrapped_len = len(iso_pad(apdu.data)) + MAC_LENGTH if apdu.data else MAC_LENGTH
            if wrapped_len > MAX_SHORT_NC and not plain_extended:
                links = self._protocol.split_chain(apdu, SM_CHAIN_CHUNK)
            else:
                links = [apdu]
            response = ResponseApdu(b"", SW.OK)
            for link in links:
                response = self._transceive_one(link)
                if response.sw != SW.OK:
                    break
            return response

    def _transceive_one(self, apdu: CommandApdu) -> ResponseApdu:
        wrapped = self.wrap(apdu)
        try:
            raw = self._protocol.transceive(wrapped)
        except BaseException:
            self._open = False  # card state unknown: the counter may or may not have moved
            raise
        finally:
            self._counter += 1
        return self.unwrap(raw, counter=self._counter - 1)

    def wrap(self, apdu: CommandApdu) -> CommandApdu:
        """The wrapped form of ``apdu`` (6.3); advances the MCV, not the counter."""
        cla = apdu.cla | Cla.ISO_SM
        encrypted = b""
        if apdu.data:
            icv = _aes_ecb_block(self._keys.enc, self._counter.to_bytes(BLOCK, "big"))
            encrypted = _cbc(self._keys.enc, icv, iso_pad(apdu.data), encrypt=True)
        lc = len(encrypted) + MAC_LENGTH
        ne = apdu.ne if apdu.ne is not None else MAX_SHORT_NE
        extended = self._protocol.extended_length and (lc > MAX_SHORT_NC or ne > MAX_SHORT_NE)
        if not extended and ne > MAX_SHORT_NE:
            ne = MAX_SHORT_NE
        if apdu.ne is None and extended:
            ne = 65536
        lc_field = b"\x00" + lc.to_bytes(2, "big") if extended else bytes((lc,))
        header = bytes((cla, apdu.ins, apdu.p1, apdu.p2))
        full_mac = aes_cmac(self._keys.mac, self._mcv + header + lc_field + encrypted)
        self._mcv = full_mac
        return CommandApdu(cla, apdu.ins, apdu.p1, apdu.p2, encrypted + full_mac[:MAC_LENGTH], ne)

    def unwrap(self, response: ResponseApdu, *, counter: int) -> ResponseApdu:
        """Check the R-MAC and decrypt the response of the command sent with ``counter`` (6.4)."""
        sw = response.sw
        if not (sw == SW.OK or sw >> 8 in (0x62, 0x63)):
            if response.data:
                self._open = False
                raise SecureChannelError(f"SW {sw:04X} response carries data; channel closed")
            if sw in (
                SW.SECURITY_STATUS_NOT_SATISFIED,
                SW.SM_DATA_OBJECTS_MISSING,
                SW.SM_DATA_OBJECTS_INCORRECT,
            ):
                logger.warning(
                    "card answered SW %04X to a wrapped command; "
                    "treating the issuer channel as closed",
                    sw,
                )
                self._open = False
            return response
        data = response.data
        if len(data) < MAC_LENGTH or (len(data) - MAC_LENGTH) % BLOCK:
            self._open = False
            raise SecureChannelError("malformed wrapped response; channel closed")
        encrypted, rmac = data[:-MAC_LENGTH], data[-MAC_LENGTH:]
        expected = aes_cmac(self._keys.rmac, self._mcv + encrypted + sw.to_bytes(2, "big"))
        if not hmac.compare_digest(expected[:MAC_LENGTH], rmac):
            self._open = False
            raise SecureChannelError("R-MAC verification failed; channel closed")
        plain = b""
        if encrypted:
            icv = _aes_ecb_block(self._keys.enc, b"\x80" + counter.to_bytes(BLOCK - 1, "big"))
            try:
                plain = iso_unpad(_cbc(self._keys.enc, icv, encrypted, encrypt=False))
            except SecureChannelError:
                self._open = False
                raise
        return ResponseApdu(plain, sw)


def open_secure_channel(
    protocol: CardProtocol,
    keys: KeyProvider,
    *,
    kvn: int = 0,
    host_challenge: bytes | None = None,
) -> SecureChannel:
    """INITIALIZE UPDATE + EXTERNAL AUTHENTICATE at security level 33 (6.2, 5.10, 5.11).

    ``keys`` is a :class:`StaticKeys` or a callable ``(serial, kvn) -> StaticKeys``
    called with what the card reports.  ``kvn`` 0 lets the card use the key version it
    holds; a nonzero ``kvn`` must come back in the response (5.10), otherwise
    :class:`KeyVersionMismatch` is raised before any key is looked up.  A wrong card
    cryptogram raises :class:`SecureChannelError`.  Either way nothing is sent that could
    change the card.

    The card counts failed issuer authentications (spec 6.8): a rejected EXTERNAL
    AUTHENTICATE raises :class:`IssuerAuthenticationFailed` with ``tries_left``, a card whose
    issuer channel is blocked raises :class:`IssuerChannelBlocked` (at INITIALIZE UPDATE).
    A host holding the wrong keys never costs the card a try: it stops at the card
    cryptogram, before EXTERNAL AUTHENTICATE.
    """
    if not 0 <= kvn <= MAX_KVN:
        raise ValueError(f"key version must be 0-{MAX_KVN}")
    challenge = os.urandom(CHALLENGE_LENGTH) if host_challenge is None else host_challenge
    if len(challenge) != CHALLENGE_LENGTH:
        raise ValueError("host challenge must be 8 bytes")
    with protocol.transaction():
        init = CommandApdu(Cla.PROPRIETARY, Ins.INITIALIZE_UPDATE, kvn, 0, challenge, MAX_SHORT_NE)
        try:
            info = InitializeUpdateResponse.parse(protocol.send(init))
        except IssuerChannelBlocked:
            logger.warning("the card's issuer channel is blocked (too many failed authentications)")
            raise
        if kvn and info.kvn != kvn:
            raise KeyVersionMismatch(kvn, info.kvn)
        static = keys if isinstance(keys, StaticKeys) else keys(info.serial, info.kvn)
        session = derive_session_keys(static, challenge, info.card_challenge)
        context = challenge + info.card_challenge
        card_cryptogram = kdf(session.mac, KdfConstant.CARD_CRYPTOGRAM, 64, context)
        if not hmac.compare_digest(card_cryptogram, info.card_cryptogram):
            raise SecureChannelError(
                "card cryptogram mismatch: wrong issuer key or key version for this card"
            )
        host_cryptogram = kdf(session.mac, KdfConstant.HOST_CRYPTOGRAM, 64, context)
        header = bytes((Cla.PROPRIETARY_SM, Ins.EXTERNAL_AUTHENTICATE, REQUIRED_SECURITY_LEVEL, 0))
        lc = bytes((len(host_cryptogram) + MAC_LENGTH,))
        full_mac = aes_cmac(session.mac, bytes(BLOCK) + header + lc + host_cryptogram)
        ext = CommandApdu(
            Cla.PROPRIETARY_SM,
            Ins.EXTERNAL_AUTHENTICATE,
            REQUIRED_SECURITY_LEVEL,
            0,
            host_cryptogram + full_mac[:MAC_LENGTH],
        )
        try:
            protocol.send(ext)
        except IssuerAuthenticationFailed as exc:
            left = "unknown (application 1.0)" if exc.tries_left is None else exc.tries_left
            logger.warning("card rejected the issuer authentication; tries left: %s", left)
            raise
        logger.info(
            "issuer secure channel open (KVN %d, security level %02X)",
            info.kvn,
            REQUIRED_SECURITY_LEVEL,
        )
        return SecureChannel(protocol, session, full_mac)
