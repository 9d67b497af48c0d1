"""The card's persistent memory (EEPROM) and its image file.

Persistent state is an immutable :class:`CardState`.  A command builds a new state
and :meth:`CardStore.commit`s it: that is one Java Card transaction.  With an image
file, the commit writes a temporary file in the same directory, fsyncs it, renames it
over the image and fsyncs the directory; the in-memory state is swapped only after
that, so a torn commit leaves the old state both on disk and in memory.

The image holds keys and PINs: its content never goes into logs or exception text.

Image format versions: 1 (application 1.0) had no issuer authentication counter; such an
image is read as a card whose counter is at its initial allowance, and the next commit
writes it as version 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from card_service.card.wire import (
    FILE_MAX_SIZE,
    ISSUER_AUTH_MAX_TRIES,
    KEY_LENGTH,
    PIN_BLOCK_LENGTH,
    PIN_MAX_TRIES,
    PUK_MAX_TRIES,
    SERIAL_LENGTH,
    FileId,
    LifeCycle,
)

from .errors import CardImageError

__all__ = [
    "IMAGE_FORMAT",
    "IMAGE_VERSION",
    "READABLE_IMAGE_VERSIONS",
    "CardState",
    "CardStore",
    "CommitFailed",
    "TornCommit",
    "read_image",
]

logger = logging.getLogger(__name__)

IMAGE_FORMAT = "permit-simulated-card"
IMAGE_VERSION = 2
#: Versions :func:`read_image` accepts (older ones are migrated on reading).
READABLE_IMAGE_VERSIONS = (1, 2)
#: Fields a version-1 image lacks, with the value a migrated card starts with.
_V1_DEFAULTS: Mapping[str, Any] = {"issuer_auth_tries": ISSUER_AUTH_MAX_TRIES}
#: EFs whose content is stored (EF.CardInfo is computed at every read).
STORED_FILES = (FileId.RECORD, FileId.ENDORSEMENTS, FileId.CARD_KEY, FileId.HOLDER_DATA)
EC_PRIVATE_KEY_LENGTH = 32
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class TornCommit(Exception):
    """Fault injection cut the power right after a commit (phase "mid")."""


class CommitFailed(Exception):
    """The image could not be written; the old state is kept (the card answers 6581)."""


@dataclass(frozen=True)
class CardState:
    """Everything the card keeps across power loss."""

    serial: bytes
    kvn: int
    k_enc: bytes = field(repr=False)
    k_mac: bytes = field(repr=False)
    k_dek: bytes = field(repr=False)
    life_cycle: LifeCycle = LifeCycle.BLANK
    files: Mapping[FileId, bytes] = field(default_factory=dict, repr=False)
    card_key: bytes | None = field(default=None, repr=False)  # P-256 private scalar
    pin: bytes | None = field(default=None, repr=False)  # PIN block
    pin_tries: int = PIN_MAX_TRIES
    puk: bytes | None = field(default=None, repr=False)  # PUK block
    puk_tries: int = PUK_MAX_TRIES
    #: failed EXTERNAL AUTHENTICATE allowance (section 6.8); 0 = issuer channel blocked
    issuer_auth_tries: int = ISSUER_AUTH_MAX_TRIES

    def file(self, fid: FileId) -> bytes:
        return self.files.get(fid, b"")

    def with_file(self, fid: FileId, content: bytes) -> CardState:
        files = dict(self.files)
        files[fid] = content
        return replace(self, files=files)

    def erased(self, life_cycle: LifeCycle) -> CardState:
        """All EFs, the card key, PIN and PUK erased (wipe and termination).

        The issuer authentication counter is not personalisation data: it survives.
        """
        return replace(
            self,
            life_cycle=life_cycle,
            files={},
            card_key=None,
            pin=None,
            pin_tries=PIN_MAX_TRIES,
            puk=None,
            puk_tries=PUK_MAX_TRIES,
        )

    # ---- image encoding ----

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "serial": self.serial.hex(),
            "kvn": self.kvn,
            "k_enc": self.k_enc.hex(),
            "k_mac": self.k_mac.hex(),
            "k_dek": self.k_dek.hex(),
            "life_cycle": int(self.life_cycle),
            "files": {f"{int(fid):04X}": self.file(fid).hex() for fid in STORED_FILES},
            "card_key": None if self.card_key is None else self.card_key.hex(),
            "pin": None if self.pin is None else self.pin.hex(),
            "pin_tries": self.pin_tries,
            "puk": None if self.puk is None else self.puk.hex(),
            "puk_tries": self.puk_tries,
            "issuer_auth_tries": self.issuer_auth_tries,
        }
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, version: int = IMAGE_VERSION) -> CardState:
        """Decode the ``card`` object of an image of format ``version``.

        ``ValueError``/``KeyError``/``TypeError`` (naming fields, never values) if malformed.
        A version-1 body must not carry the fields version 2 added; they get their defaults.
        """
        if version == 1:
            if any(name in body for name in _V1_DEFAULTS):
                raise ValueError("a version 1 image carries a version 2 field")
            body = {**body, **_V1_DEFAULTS}

        def hexfield(name: str, length: int | None, optional: bool = False) -> bytes | None:
            value = body[name]
            if value is None and optional:
                return None
            if not isinstance(value, str):
                raise TypeError(f"field {name} is not a string")
            raw = bytes.fromhex(value)
            if length is not None and len(raw) != length:
                raise ValueError(f"field {name} has the wrong length")
            return raw

        def intfield(name: str, lo: int, hi: int) -> int:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"field {name} out of range")
            return value

        files_in = body["files"]
        if not isinstance(files_in, dict):
            raise TypeError("field files is not an object")
        files: dict[FileId, bytes] = {}
        for fid in STORED_FILES:
            value = files_in.get(f"{int(fid):04X}", "")
            if not isinstance(value, str):
                raise TypeError("a file content is not a string")
            content = bytes.fromhex(value)
            if len(content) > FILE_MAX_SIZE[fid]:
                raise ValueError("a file is larger than its maximum size")
            if content:
                files[fid] = content

        def required(value: bytes | None) -> bytes:
            assert value is not None
            return value

        card_key = hexfield("card_key", EC_PRIVATE_KEY_LENGTH, optional=True)
        if card_key is not None and not 0 < int.from_bytes(card_key, "big") < _P256_ORDER:
            raise ValueError("field card_key is not a valid P-256 private key")
        return cls(
            serial=required(hexfield("serial", SERIAL_LENGTH)),
            kvn=intfield("kvn", 1, 127),
            k_enc=required(hexfield("k_enc", KEY_LENGTH)),
            k_mac=required(hexfield("k_mac", KEY_LENGTH)),
            k_dek=required(hexfield("k_dek", KEY_LENGTH)),
            life_cycle=LifeCycle(intfield("life_cycle", 0, 255)),
            files=files,
            card_key=card_key,
            pin=hexfield("pin", PIN_BLOCK_LENGTH, optional=True),
            pin_tries=intfield("pin_tries", 0, PIN_MAX_TRIES),
            puk=hexfield("puk", PIN_BLOCK_LENGTH, optional=True),
            puk_tries=intfield("puk_tries", 0, PUK_MAX_TRIES),
            issuer_auth_tries=intfield("issuer_auth_tries", 0, ISSUER_AUTH_MAX_TRIES),
        )


def _checksum(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def encode_image(state: CardState) -> bytes:
    body = state.to_json()
    doc = {
        "format": IMAGE_FORMAT,
        "version": IMAGE_VERSION,
        "card": body,
        "sha256": _checksum(body),
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def read_image(path: Path) -> CardState:
    """Read and validate an image; :class:`CardImageError` naming the file otherwise."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CardImageError(f"card image {path} does not exist") from None
    except OSError as exc:
        raise CardImageError(f"card image {path} cannot be read: {exc.strerror}") from None
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise CardImageError(f"card image {path} is corrupt or truncated (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("format") != IMAGE_FORMAT:
        raise CardImageError(f"card image {path} is not a permit card image")
    version = doc.get("version")
    if type(version) is not int or version not in READABLE_IMAGE_VERSIONS:  # not 1.0, not True
        readable = ", ".join(str(v) for v in READABLE_IMAGE_VERSIONS)
        raise CardImageError(
            f"card image {path} has an unsupported format version "
            f"(this simulator reads versions {readable})"
        )
    body = doc.get("card")
    try:
        intact = isinstance(body, dict) and doc.get("sha256") == _checksum(body)
    except (ValueError, TypeError, RecursionError):  # values json cannot re-encode
        intact = False
    if not intact:
        raise CardImageError(f"card image {path} is corrupt (checksum mismatch)")
    assert isinstance(body, dict)
    try:
        state = CardState.from_json(body, version=version)
    except RecursionError:
        raise CardImageError(f"card image {path} is invalid: nested too deeply") from None
    except (KeyError, ValueError, TypeError) as exc:
        # the messages of from_json name fields, never values
        reason = str(exc) if not isinstance(exc, KeyError) else "a field is missing"
        raise CardImageError(f"card image {path} is invalid: {reason}") from None
    if version != IMAGE_VERSION:
        logger.info("card image %s: format version %d migrated on reading", path.name, version)
    return state


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_image(path: Path, state: CardState, *, durable: bool, exclusive: bool = False) -> None:
    """Atomically write ``state`` to ``path`` (mode 0600).

    ``exclusive``: refuse to replace an existing file (``FileExistsError``).
    """
    data = encode_image(state)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, path)  # fails with FileExistsError, never overwrites
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


class CardStore:
    """The current persistent state and the transaction mechanism."""

    def __init__(self, state: CardState, path: Path | None, *, durable: bool) -> None:
        self._state = state
        self.path = path
        self.durable = durable
        self._tear_after_commit = False

    @property
    def state(self) -> CardState:
        return self._state

    def arm_tear(self, armed: bool) -> None:
        """Make the next commit raise :class:`TornCommit` once it has completed."""
        self._tear_after_commit = armed

    def commit(self, new_state: CardState) -> None:
        """One atomic transaction: ``new_state`` replaces the state entirely or not at all."""
        if self.path is not None:
            try:
                write_image(self.path, new_state, durable=self.durable)
            except OSError as exc:
                logger.error("card image %s could not be written: %s", self.path, exc.strerror)
                raise CommitFailed from None
        self._state = new_state
        if self._tear_after_commit:
            self._tear_after_commit = False
            raise TornCommit
