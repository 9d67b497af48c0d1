"""APDU protocol over a transport connection: length encoding, chaining, GET RESPONSE.

:class:`CardProtocol` turns a :class:`CommandApdu` into one or more transmitted
APDUs and the (possibly several) responses into one :class:`ResponseApdu`:

* extended length when both the reader (``conn.supports_extended_length``) and
  the card (ATR card capabilities) support it and the command needs it;
  otherwise command chaining (CLA bit 10, chunks of at most 255 bytes) for
  data over 255 bytes, and Ne capped at 256;
* ``61xx``: GET RESPONSE until the card has no more, concatenating the parts;
* ``6Cxx``: resend once with Le = xx.

``send()`` raises the typed error for any status word other than 9000/62xx via
:func:`errors.error_for_status`.  Logs show INS, lengths and SW, never data.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Protocol

from .apdu import MAX_SHORT_NC, MAX_SHORT_NE, CommandApdu, ResponseApdu
from .atr import CardCapabilities, parse_capabilities
from .errors import ResponseFormatError, command_name, error_for_status
from .wire import SW, Cla, Ins

__all__ = ["ApduChannel", "CardConnectionLike", "CardProtocol", "is_success", "raise_for_status"]

logger = logging.getLogger(__name__)

#: Upper bound on GET RESPONSE rounds: more than any legitimate response needs.
_MAX_GET_RESPONSE_ROUNDS = 300


class CardConnectionLike(Protocol):
    """What this layer needs of ``reader_drivers.base.CardConnection``."""

    @property
    def reader(self) -> str: ...

    @property
    def atr(self) -> bytes: ...

    @property
    def supports_extended_length(self) -> bool: ...

    def transmit(self, apdu: bytes) -> tuple[bytes, int]: ...

    def transaction(self) -> AbstractContextManager[None]: ...


class ApduChannel(Protocol):
    """The ``send`` contract shared by :class:`CardProtocol` and secure-messaging wrappers."""

    def transceive(self, apdu: CommandApdu) -> ResponseApdu: ...

    def send(self, apdu: CommandApdu, *, reference: int | None = None) -> bytes: ...

    def transaction(self) -> AbstractContextManager[None]: ...


def is_success(sw: int) -> bool:
    """9000, or a 62xx warning (processing completed, data returned)."""
    return sw == SW.OK or sw >> 8 == 0x62


def raise_for_status(response: ResponseApdu, apdu: CommandApdu, reference: int | None) -> bytes:
    """Return the data of a successful response, else raise the mapped error."""
    if is_success(response.sw):
        return response.data
    raise error_for_status(response.sw, command=command_name(apdu.ins), reference=reference)


class CardProtocol:
    """Plain (unwrapped) APDU exchange with one card over one connection."""

    def __init__(self, connection: CardConnectionLike) -> None:
        self.connection = connection
        self.capabilities: CardCapabilities = parse_capabilities(connection.atr)

    @property
    def extended_length(self) -> bool:
        """True if extended APDUs can be used (reader and card both support them)."""
        return bool(self.connection.supports_extended_length and self.capabilities.extended_length)

    def transaction(self) -> AbstractContextManager[None]:
        return self.connection.transaction()

    def send(self, apdu: CommandApdu, *, reference: int | None = None) -> bytes:
        """Send ``apdu``; return the response data or raise a typed :class:`ApduError`."""
        return raise_for_status(self.transceive(apdu), apdu, reference)

    def transceive(self, apdu: CommandApdu) -> ResponseApdu:
        """Send ``apdu`` (chained if needed) and return the complete response, any SW."""
        with self.connection.transaction():
            if len(apdu.data) > MAX_SHORT_NC and not self.extended_length:
                return self._send_chain(apdu)
            return self._exchange(apdu)

    def split_chain(self, apdu: CommandApdu, chunk: int = MAX_SHORT_NC) -> list[CommandApdu]:
        """Split ``apdu`` into a command chain: CLA bit 10 on all but the last.

        Only the last command carries Le.  Used by secure messaging too, which
        chains the plain command and wraps every link.
        """
        if not 1 <= chunk <= MAX_SHORT_NC:
            raise ValueError("chain chunk size must be 1-255")
        data = apdu.data
        pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
        links = [
            replace(apdu, cla=apdu.cla | Cla.CHAIN, data=piece, ne=None) for piece in pieces[:-1]
        ]
        last_ne = None if apdu.ne is None else min(apdu.ne, MAX_SHORT_NE)
        links.append(replace(apdu, data=pieces[-1], ne=last_ne))
        return links

    def _send_chain(self, apdu: CommandApdu) -> ResponseApdu:
        links = self.split_chain(apdu)
        logger.debug(
            "%s: chaining %d bytes in %d commands",
            command_name(apdu.ins),
            len(apdu.data),
            len(links),
        )
        for link in links[:-1]:
            response = self._exchange(link)
            if response.sw != SW.OK:
                return response
        return self._exchange(links[-1])

    def _exchange(self, apdu: CommandApdu) -> ResponseApdu:
        """One command (no chaining), with 6Cxx retry and 61xx GET RESPONSE handling."""
        extended = self.extended_length and apdu.needs_extended
        if not extended and apdu.ne is not None and apdu.ne > MAX_SHORT_NE:
            apdu = replace(apdu, ne=MAX_SHORT_NE)
        data, sw = self._transmit(apdu, extended)
        if sw >> 8 == 0x6C:
            apdu = replace(apdu, ne=(sw & 0xFF) or MAX_SHORT_NE)
            data, sw = self._transmit(apdu, extended)
        if sw >> 8 != 0x61:
            return ResponseApdu(data, sw)
        parts = [data]
        for _ in range(_MAX_GET_RESPONSE_ROUNDS):
            get = CommandApdu(Cla.ISO, Ins.GET_RESPONSE, 0, 0, ne=(sw & 0xFF) or MAX_SHORT_NE)
            data, sw = self._transmit(get, False)
            parts.append(data)
            if sw >> 8 != 0x61:
                return ResponseApdu(b"".join(parts), sw)
        raise ResponseFormatError("card keeps answering 61xx: response too long")

    def _transmit(self, apdu: CommandApdu, extended: bool) -> tuple[bytes, int]:
        raw = apdu.encode(extended)
        data, sw = self.connection.transmit(raw)
        logger.debug(
            "%s CLA=%02X P1=%02X P2=%02X nc=%d ne=%s%s -> %d bytes, SW %04X",
            command_name(apdu.ins),
            apdu.cla,
            apdu.p1,
            apdu.p2,
            len(apdu.data),
            apdu.ne,
            " (extended)" if extended else "",
            len(data),
            sw,
        )
        return data, sw
