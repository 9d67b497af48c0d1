"""The checkpoint witness: every signed checkpoint, also kept outside the register.

In the manner of Certificate Transparency's signed tree heads and witnesses (RFC 9162): the
register's own ``audit_checkpoint`` rows live in the database an insider may rewrite, so each
checkpoint is also written here, one self-contained file per checkpoint, and
``permit audit verify --witness DIR`` proves the log as it stands extends every one of them.

File ``checkpoint-<seq, 12 digits>.json``, mode 0600 in a 0700 directory, written atomically
and never over an existing entry (``keys.fsutil.write_private_file(exclusive=True)``); the
content is the canonical JSON (sorted keys, no whitespace, ASCII, one trailing newline) of::

    {"certificate": PEM, "entry_hash": hex, "format": "permit-audit-witness-v1",
     "seq": int, "signature": hex, "signer_id": "audit-NNNN", "time": "...Z"}

The signed bytes are :func:`.checkpoint.checkpoint_message` of ``seq``, ``entry_hash`` and
``time``.  Reading is strict: a file that is not exactly that encoding, an entry that is not a
regular file (a symlink is refused, never followed) or an unknown name is a
:class:`WitnessError`.  Directory: ``$PERMIT_AUDIT_WITNESS_DIR``, default
``$PERMIT_HOME/audit-witness`` (operators should point it at other, append-only storage).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from card_service.settings import permit_home
from keys.fsutil import ensure_private_dir, write_private_file
from permit_errors import ErrorKind, PermitError

from .chain import canonical_time, checkpoint_message

__all__ = [
    "WITNESS_DIR_ENV",
    "WitnessConflict",
    "WitnessDir",
    "WitnessError",
    "WitnessedCheckpoint",
    "parse_time",
    "witness_dir",
]

WITNESS_DIR_ENV = "PERMIT_AUDIT_WITNESS_DIR"
FORMAT = "permit-audit-witness-v1"
MAX_FILE_BYTES = 16 * 1024
_NAME = re.compile(r"checkpoint-(\d{12})\.json")
_HASH = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"(?:[0-9a-f]{2}){8,256}")
_SIGNER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z")
_PEM = re.compile(
    r"-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]{1,8000}-----END CERTIFICATE-----\n?"
)
_KEYS = {"certificate", "entry_hash", "format", "seq", "signature", "signer_id", "time"}
MAX_SEQ = 10**12 - 1


class WitnessError(PermitError, ValueError):
    """A witness entry is unsafe (not a regular file) or malformed, or cannot be written."""

    code = "witness_error"
    kind = ErrorKind.CONFIG


class WitnessConflict(WitnessError):
    """The witness already holds a different checkpoint for that entry: never overwritten."""

    code = "witness_conflict"
    kind = ErrorKind.INTEGRITY


def witness_dir(env: Mapping[str, str]) -> Path:
    """``PERMIT_AUDIT_WITNESS_DIR`` of ``env``, else ``$PERMIT_HOME/audit-witness``."""
    value = env.get(WITNESS_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else permit_home(env) / "audit-witness"


def parse_time(text: str) -> dt.datetime:
    """The canonical ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` form, and nothing else (ValueError)."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError("not a canonical UTC time")
    y, mo, d, h, mi, s, us = (int(g) for g in match.groups())
    return dt.datetime(y, mo, d, h, mi, s, us, tzinfo=dt.UTC)


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """One signed checkpoint as the witness holds it (and as the register row holds it)."""

    seq: int
    entry_hash: str
    time: dt.datetime
    signer_id: str
    signature: str  # hex
    certificate: str  # PEM

    def message(self) -> bytes:
        """The bytes the signature is over."""
        return checkpoint_message(self.seq, self.entry_hash, self.time)

    def load_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate.encode("ascii"))

    @property
    def file_name(self) -> str:
        return f"checkpoint-{self.seq:012d}.json"

    def to_bytes(self) -> bytes:
        body = {
            "certificate": self.certificate,
            "entry_hash": self.entry_hash,
            "format": FORMAT,
            "seq": self.seq,
            "signature": self.signature,
            "signer_id": self.signer_id,
            "time": canonical_time(self.time),
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return text.encode("ascii") + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> WitnessedCheckpoint:
        """Strict parse: exactly the canonical encoding of a well-formed checkpoint."""
        if len(data) > MAX_FILE_BYTES:
            raise WitnessError("witness file is too large")
        try:
            body = json.loads(data.decode("ascii"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise WitnessError("witness file is not canonical JSON") from None
        if not isinstance(body, dict) or set(body) != _KEYS or body["format"] != FORMAT:
            raise WitnessError("witness file does not have the checkpoint fields")
        seq = body["seq"]
        if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
            raise WitnessError("witness field 'seq' is malformed")
        for name, pattern in (
            ("entry_hash", _HASH),
            ("signature", _SIGNATURE),
            ("signer_id", _SIGNER),
            ("certificate", _PEM),
            ("time", _TIME),
        ):
            if not isinstance(body[name], str) or pattern.fullmatch(body[name]) is None:
                raise WitnessError(f"witness field {name!r} is malformed")
        try:
            time = parse_time(body["time"])
        except ValueError:
            raise WitnessError("witness field 'time' is malformed") from None
        cp = cls(
            seq, body["entry_hash"], time, body["signer_id"], body["signature"], body["certificate"]
        )
        if cp.to_bytes() != data:
            raise WitnessError("witness file is not in canonical form")
        return cp


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key")
        out[key] = value
    return out


def _is_residue(name: str) -> bool:
    """A temporary file left by an interrupted atomic write (never a checkpoint)."""
    return name.startswith(".") and name.endswith(".tmp")


class WitnessDir:
    """A witness directory: write, list and read checkpoints (never following a link).

    The HTTP API offers :meth:`seqs` and :meth:`read_bytes` to auditors.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _check_dir(self, *, create: bool) -> bool:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            if not create:
                return False
            ensure_private_dir(self.path)
            return True
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise WitnessError(f"witness directory {self.path} is not a directory (or a link)")
        return True

    def seqs(self) -> list[int]:
        """The sequence numbers of the checkpoints held, ascending (a missing directory is
        empty).  Any entry that is not a regular checkpoint file is refused."""
        if not self._check_dir(create=False):
            return []
        found: list[int] = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                if _is_residue(entry.name):
                    continue
                match = _NAME.fullmatch(entry.name)
                if match is None:
                    raise WitnessError(f"unexpected entry in the witness directory: {entry.name!r}")
                if not entry.is_file(follow_symlinks=False):
                    raise WitnessError(f"witness entry {entry.name} is not a regular file")
                found.append(int(match.group(1)))
        return sorted(found)

    def read_bytes(self, seq: int) -> bytes:
        """The file of checkpoint ``seq`` as stored (``FileNotFoundError`` if none)."""
        path = self.path / f"checkpoint-{seq:012d}.json"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise WitnessError(f"witness entry {path.name} is a link: refused") from None
            raise
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise WitnessError(f"witness entry {path.name} is not a regular file")
            data = fh.read(MAX_FILE_BYTES + 1)
        return data

    def read(self, seq: int) -> WitnessedCheckpoint:
        """Checkpoint ``seq``, strictly parsed; its seq must be the one its name gives."""
        try:
            cp = WitnessedCheckpoint.from_bytes(self.read_bytes(seq))
        except WitnessError as exc:
            raise WitnessError(f"witness checkpoint {seq}: {exc}") from None
        if cp.seq != seq:
            raise WitnessError(f"witness checkpoint {seq}: the file names entry {cp.seq}")
        return cp

    def write(self, cp: WitnessedCheckpoint) -> bool:
        """Store ``cp``; ``False`` if the identical file is already there.  A different file,
        or an entry that is not a regular file, is refused (:class:`WitnessConflict`)."""
        self._check_dir(create=True)
        data = cp.to_bytes()
        for _ in range(2):
            try:
                existing = self.read_bytes(cp.seq)
            except FileNotFoundError:
                pass
            else:
                if existing == data:
                    return False
                raise WitnessConflict(
                    f"the witness holds a different checkpoint for entry {cp.seq}: not replaced"
                )
            try:
                write_private_file(self.path / cp.file_name, data, exclusive=True)
                return True
            except FileExistsError:  # appeared meanwhile (or a link planted): look again
                continue
        raise WitnessConflict(f"witness entry for entry {cp.seq} keeps changing: not written")
