"""``PermitCardSession``: the permit card application, one session per card connection.

Every multi-APDU operation runs inside ``connection.transaction()`` so that two
callers never interleave their commands.  While the issuer channel is open
every command goes through it (a plain command would close it on the card).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .apdu import MAX_EXTENDED_NE, MAX_SHORT_NE, CommandApdu
from .errors import ResponseFormatError, SecureChannelError, error_for_status
from .info import ApplicationInfo, CardInfo, FileInfo, parse_public_key
from .pin import pin_block, puk_block
from .protocol import ApduChannel, CardConnectionLike, CardProtocol
from .scp03 import KeyProvider, SecureChannel, open_secure_channel
from .wire import (
    AID,
    CARD_AUTH_DOMAIN,
    CHALLENGE_MAX_LENGTH,
    CHALLENGE_MIN_LENGTH,
    GET_CHALLENGE_MAX,
    SW,
    Cla,
    FileId,
    Ins,
    KeyRef,
    LifeCycle,
)

__all__ = ["PermitCardSession", "PinStatus", "verify_card_signature"]

logger = logging.getLogger(__name__)

_SIGNATURE_LENGTH = 64
_MAX_OFFSET = 0x7FFF


@dataclass(frozen=True)
class PinStatus:
    """Result of VERIFY without data (5.5)."""

    is_set: bool
    verified: bool
    blocked: bool
    tries_left: int | None


def verify_card_signature(
    public_key: ec.EllipticCurvePublicKey, challenge: bytes, signature: bytes
) -> bool:
    """Check an INTERNAL AUTHENTICATE answer: ECDSA P-256 over SHA-256(domain || challenge).

    ``signature`` is the plain ``r || s`` format (BSI TR-03111).
    """
    if len(signature) != _SIGNATURE_LENGTH:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        public_key.verify(
            encode_dss_signature(r, s), CARD_AUTH_DOMAIN + challenge, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        return False
    return True


class PermitCardSession:
    """The host side of the permit application on the card behind ``connection``."""

    verify_card_signature = staticmethod(verify_card_signature)

    def __init__(self, connection: CardConnectionLike) -> None:
        self.connection = connection
        self.protocol = CardProtocol(connection)
        self._channel: SecureChannel | None = None

    def __repr__(self) -> str:
        return (
            f"PermitCardSession(reader={self.connection.reader!r}, "
            f"issuer_channel={self.issuer_channel_open})"
        )

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def issuer_channel_open(self) -> bool:
        return self._channel is not None and self._channel.is_open

    @property
    def _link(self) -> ApduChannel:
        """Where commands go: the issuer channel while it is open, else plain."""
        if self._channel is not None:
            if not self._channel.is_open:
                self._channel = None
                raise SecureChannelError("the issuer secure channel was closed; open it again")
            return self._channel
        return self.protocol

    def _require_channel(self, what: str) -> ApduChannel:
        if not self.issuer_channel_open:
            raise SecureChannelError(
                f"{what} needs the issuer secure channel; call open_issuer_channel() first"
            )
        return self._link

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self.connection.transaction():
            yield

    def _send(
        self,
        ins: int,
        p1: int,
        p2: int,
        data: bytes = b"",
        ne: int | None = None,
        *,
        cla: int = Cla.ISO,
        reference: int | None = None,
    ) -> bytes:
        return self._link.send(CommandApdu(cla, ins, p1, p2, data, ne), reference=reference)

    # -- selection and card data ------------------------------------------------------------

    def select(self) -> ApplicationInfo:
        """SELECT the application by AID.  Closes the issuer channel (card and host)."""
        self.close_issuer_channel()
        fci = self.protocol.send(CommandApdu(Cla.ISO, Ins.SELECT, 0x04, 0x00, AID, MAX_SHORT_NE))
        info = ApplicationInfo.parse(fci)
        if info.aid != AID:
            raise ResponseFormatError("FCI names another application")
        return info

    def select_file(self, fid: int) -> FileInfo:
        """SELECT an EF by FID; return its FCP."""
        fcp = self._send(Ins.SELECT, 0x02, 0x04, fid.to_bytes(2, "big"), MAX_SHORT_NE)
        return FileInfo.parse(fcp)

    def read_card_info(self) -> CardInfo:
        return CardInfo.parse(self.read_file(FileId.CARD_INFO))

    def read_file(self, fid: int) -> bytes:
        """The whole content (current size, from the FCP) of EF ``fid``."""
        with self._transaction():
            size = self.select_file(fid).size
            chunk = MAX_EXTENDED_NE if self.protocol.extended_length else MAX_SHORT_NE
            parts: list[bytes] = []
            offset = 0
            while offset < size:
                if offset > _MAX_OFFSET:
                    raise ResponseFormatError("file larger than READ BINARY can address")
                want = min(chunk, size - offset)
                part = self._send(Ins.READ_BINARY, offset >> 8, offset & 0xFF, ne=want)
                if not part:
                    raise ResponseFormatError("READ BINARY returned no data before the end")
                parts.append(part[: size - offset])
                offset += len(parts[-1])
            return b"".join(parts)

    def write_file(self, fid: int, data: bytes, offset: int = 0) -> None:
        """Write ``data`` at ``offset`` in ONE UPDATE BINARY (extended APDU or a chain): atomic."""
        if not data:
            raise ValueError("nothing to write")
        if not 0 <= offset <= _MAX_OFFSET:
            raise ValueError("offset must be 0-32767")
        with self._transaction():
            self._send(Ins.SELECT, 0x02, 0x0C, fid.to_bytes(2, "big"))
            self._send(Ins.UPDATE_BINARY, offset >> 8, offset & 0xFF, data)

    def append_file(self, fid: int, data: bytes) -> int:
        """Append ``data`` at the current end of EF ``fid``; return the offset written at."""
        with self._transaction():
            offset = self.select_file(fid).size
            if offset > _MAX_OFFSET:
                raise ValueError("file too large to append to")
            self._send(Ins.UPDATE_BINARY, offset >> 8, offset & 0xFF, data)
            return offset

    # -- issuer channel ---------------------------------------------------------------------

    def open_issuer_channel(self, keys: KeyProvider, *, kvn: int = 0) -> None:
        """INITIALIZE UPDATE (fresh host challenge), check the card cryptogram, EXTERNAL
        AUTHENTICATE at level 33.  ``keys``: StaticKeys or ``(serial, kvn) -> StaticKeys``.

        ``kvn`` 0: whatever key version the card holds.  A nonzero ``kvn`` must be the one
        the card reports in its INITIALIZE UPDATE response, else :class:`KeyVersionMismatch`
        (a :class:`SecureChannelError`) and no channel.
        """
        self.close_issuer_channel()
        self._channel = open_secure_channel(self.protocol, keys, kvn=kvn)

    def close_issuer_channel(self) -> None:
        """Forget the channel on the host side (the card closes it at the next plain command)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    # -- card key ---------------------------------------------------------------------------

    def generate_card_key(self) -> ec.EllipticCurvePublicKey:
        """GENERATE ASYMMETRIC KEY PAIR (issuer channel, PERSONALISING); the new public key."""
        link = self._require_channel("generating the card key")
        data = link.send(
            CommandApdu(
                Cla.ISO,
                Ins.GENERATE_ASYMMETRIC_KEY_PAIR,
                0x00,
                KeyRef.CARD_AUTH_KEY,
                ne=MAX_SHORT_NE,
            )
        )
        return parse_public_key(data)

    def read_card_public_key(self) -> ec.EllipticCurvePublicKey:
        data = self._send(
            Ins.GENERATE_ASYMMETRIC_KEY_PAIR, 0x01, KeyRef.CARD_AUTH_KEY, ne=MAX_SHORT_NE
        )
        return parse_public_key(data)

    def internal_authenticate(self, challenge: bytes) -> bytes:
        """The card's signature ``r || s`` over its domain prefix and ``challenge``."""
        if not CHALLENGE_MIN_LENGTH <= len(challenge) <= CHALLENGE_MAX_LENGTH:
            raise ValueError(
                f"challenge must be {CHALLENGE_MIN_LENGTH}-{CHALLENGE_MAX_LENGTH} bytes"
            )
        signature = self._send(
            Ins.INTERNAL_AUTHENTICATE, 0x00, KeyRef.CARD_AUTH_KEY, challenge, MAX_SHORT_NE
        )
        if len(signature) != _SIGNATURE_LENGTH:
            raise ResponseFormatError(f"signature has {len(signature)} bytes, expected 64")
        return signature

    def get_challenge(self, length: int = 8) -> bytes:
        if not 1 <= length <= GET_CHALLENGE_MAX:
            raise ValueError(f"GET CHALLENGE length must be 1-{GET_CHALLENGE_MAX}")
        data = self._send(Ins.GET_CHALLENGE, 0, 0, ne=length)
        if len(data) != length:
            raise ResponseFormatError("GET CHALLENGE returned the wrong number of bytes")
        return data

    # -- PIN and PUK ------------------------------------------------------------------------

    def verify_pin(self, pin: str) -> None:
        """VERIFY; raises WrongPin(tries_left), PinBlocked, ReferenceDataNotUsable (no PIN)."""
        self._send(Ins.VERIFY, 0x00, KeyRef.PIN, pin_block(pin), reference=KeyRef.PIN)

    def pin_status(self) -> PinStatus:
        """VERIFY without data: verified, tries left, blocked or not set.  Consumes no try."""
        response = self._link.transceive(CommandApdu(Cla.ISO, Ins.VERIFY, 0x00, KeyRef.PIN))
        sw = response.sw
        if sw == SW.OK:
            return PinStatus(is_set=True, verified=True, blocked=False, tries_left=None)
        if sw & 0xFFF0 == SW.VERIFY_FAIL_00:
            return PinStatus(is_set=True, verified=False, blocked=False, tries_left=sw & 0x0F)
        if sw == SW.AUTH_METHOD_BLOCKED:
            return PinStatus(is_set=True, verified=False, blocked=True, tries_left=0)
        if sw == SW.REFERENCE_DATA_NOT_USABLE:
            return PinStatus(is_set=False, verified=False, blocked=False, tries_left=None)
        raise error_for_status(sw, command="VERIFY", reference=KeyRef.PIN)

    def change_pin(self, old_pin: str, new_pin: str) -> None:
        """CHANGE REFERENCE DATA P1=00 (holder): old PIN checked like VERIFY."""
        data = pin_block(old_pin) + pin_block(new_pin)
        self._send(Ins.CHANGE_REFERENCE_DATA, 0x00, KeyRef.PIN, data, reference=KeyRef.PIN)

    def unblock_pin(self, puk: str, new_pin: str | None = None) -> None:
        """RESET RETRY COUNTER; raises WrongPuk(tries_left) or PukBlocked."""
        if new_pin is None:
            self._send(
                Ins.RESET_RETRY_COUNTER, 0x01, KeyRef.PIN, puk_block(puk), reference=KeyRef.PUK
            )
        else:
            self._send(
                Ins.RESET_RETRY_COUNTER,
                0x00,
                KeyRef.PIN,
                puk_block(puk) + pin_block(new_pin),
                reference=KeyRef.PUK,
            )

    def set_pin(self, pin: str) -> None:
        """Personalisation: set the PIN (issuer channel, PERSONALISING)."""
        link = self._require_channel("setting the PIN")
        link.send(CommandApdu(Cla.ISO, Ins.CHANGE_REFERENCE_DATA, 0x01, KeyRef.PIN, pin_block(pin)))

    def set_puk(self, puk: str) -> None:
        """Personalisation: set the PUK (issuer channel, PERSONALISING)."""
        link = self._require_channel("setting the PUK")
        link.send(CommandApdu(Cla.ISO, Ins.CHANGE_REFERENCE_DATA, 0x01, KeyRef.PUK, puk_block(puk)))

    # -- life cycle -------------------------------------------------------------------------

    def set_life_cycle(self, target: LifeCycle) -> None:
        """SET STATUS (issuer channel); transitions and their conditions: spec section 4."""
        link = self._require_channel("changing the life-cycle state")
        link.send(CommandApdu(Cla.PROPRIETARY, Ins.SET_STATUS, 0x00, LifeCycle(target)))
        logger.info("card life cycle set to %s", LifeCycle(target).name)

    def begin_personalisation(self) -> None:
        """BLANK -> PERSONALISING."""
        self.set_life_cycle(LifeCycle.PERSONALISING)

    def lock(self) -> None:
        """PERSONALISING -> ISSUED (card key, record, PIN and PUK must be there)."""
        self.set_life_cycle(LifeCycle.ISSUED)

    def wipe(self) -> None:
        """PERSONALISING -> BLANK: erase everything but serial and issuer keys."""
        self.set_life_cycle(LifeCycle.BLANK)

    def terminate(self) -> None:
        """-> TERMINATED, irreversibly."""
        self.set_life_cycle(LifeCycle.TERMINATED)
