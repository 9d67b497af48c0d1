"""Trace logging of raw APDU traffic, with secrets redacted.

APDUs are logged only on logger ``reader_drivers.apdu`` at level :data:`TRACE`
(5, below DEBUG), so ``-v``/DEBUG logging never shows card traffic.  Even at
TRACE, the data fields that carry PINs, PUKs, keys or cryptograms are replaced
by a length marker.  The rules are ISO/IEC 7816-4 and GlobalPlatform generic,
so they hold for any card, not just permit:

* command data of VERIFY (20), CHANGE REFERENCE DATA (24), RESET RETRY
  COUNTER (2C), EXTERNAL AUTHENTICATE (82), GENERAL AUTHENTICATE (86/87) and
  PUT KEY (D8);
* command *and* response data of any command with secure messaging
  (CLA bits ``0C`` for first-interindustry/proprietary classes, bit ``20`` for
  further-interindustry classes);
* response data of INITIALIZE UPDATE (50: card challenge and cryptogram);
* response data of READ BINARY and READ RECORD (B0, B1, B2, B3): files hold
  personal data (the permit record, PIN-protected holder data), which must
  never reach a log;
* response data of **every** GET RESPONSE (C0).  GET RESPONSE fetches the rest
  of the previous command's response (``61xx``), which may be the answer to a
  redacted command (INITIALIZE UPDATE, a secure-messaging command, a READ
  BINARY).  The logger cannot reliably tell which command a GET RESPONSE
  belongs to (the pending response belongs to the card, and another
  connection or process may have sent the command), so it never shows that
  data.

Header bytes, lengths and status words are always shown: they are what one
needs to debug a protocol problem.
"""

from __future__ import annotations

import logging

__all__ = ["TRACE", "log_exchange", "redact_command", "redact_response"]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

logger = logging.getLogger("reader_drivers.apdu")

_SECRET_COMMAND_INS = frozenset({0x20, 0x24, 0x2C, 0x82, 0x86, 0x87, 0xD8})
_SECRET_RESPONSE_INS = frozenset(
    {
        0x50,  # INITIALIZE UPDATE: card challenge and cryptogram
        0xB0,  # READ BINARY
        0xB1,  # READ BINARY (odd INS, offset DO)
        0xB2,  # READ RECORD(S)
        0xB3,  # READ RECORD(S) (odd INS)
        0xC0,  # GET RESPONSE: the rest of any (possibly secret) response
    }
)


def _secure_messaging(cla: int) -> bool:
    if 0x40 <= cla <= 0x7F:  # further interindustry class: SM indicated by bit 6
        return bool(cla & 0x20)
    return bool(cla & 0x0C)


def _command_is_secret(apdu: bytes) -> bool:
    return len(apdu) >= 4 and (_secure_messaging(apdu[0]) or apdu[1] in _SECRET_COMMAND_INS)


def _response_is_secret(command: bytes) -> bool:
    if len(command) < 4:
        return True  # malformed command: whatever came back is not shown
    return _secure_messaging(command[0]) or command[1] in _SECRET_RESPONSE_INS


def _split_body(body: bytes) -> tuple[bytes, bytes, bytes] | None:
    """Split the body after the header into (Lc field, data, Le field); None if malformed."""
    n = len(body)
    if n == 0:
        return b"", b"", b""
    if n == 1:
        return b"", b"", body
    if body[0] != 0:  # short Lc
        lc = body[0]
        if n == 1 + lc:
            return body[:1], body[1:], b""
        if n == 2 + lc:
            return body[:1], body[1:-1], body[-1:]
        return None
    if n == 3:  # extended Le only
        return b"", b"", body
    lc = int.from_bytes(body[1:3], "big")
    if n == 3 + lc:
        return body[:3], body[3:], b""
    if n == 5 + lc:
        return body[:3], body[3:-2], body[-2:]
    return None


def redact_command(apdu: bytes) -> str:
    """Hex rendering of a command APDU with secret data replaced by ``<N bytes>``."""
    if len(apdu) < 4:
        return apdu.hex().upper()
    header, body = apdu[:4], apdu[4:]
    if not _command_is_secret(apdu):
        return apdu.hex().upper()
    parts = _split_body(body)
    if parts is None:
        return f"{header.hex().upper()} <{len(body)} bytes redacted>"
    lc, data, le = parts
    out = header.hex().upper() + " " + lc.hex().upper() if lc else header.hex().upper()
    if data:
        out += f" <{len(data)} bytes redacted>"
    if le:
        out += " " + le.hex().upper()
    return out


def redact_response(command: bytes, data: bytes, sw: int) -> str:
    """Hex rendering of a response, data redacted when the command warrants it."""
    if data and _response_is_secret(command):
        return f"<{len(data)} bytes redacted> {sw:04X}"
    return f"{data.hex().upper()} {sw:04X}".lstrip()


def log_exchange(reader: str, command: bytes, data: bytes, sw: int, elapsed: float) -> None:
    """Log one command/response pair at TRACE level (no-op unless enabled)."""
    if logger.isEnabledFor(TRACE):
        logger.log(
            TRACE,
            "%s > %s | < %s (%.2f ms)",
            reader,
            redact_command(command),
            redact_response(command, data, sw),
            elapsed * 1000.0,
        )
