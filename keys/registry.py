"""The key registry: ``$PERMIT_HOME/keys/registry.json`` (metadata only, no key material).

It names every root, document signer, audit signer and master key version, their algorithm,
validity, signing window and state, the store that holds them and the current CRL.  It is
written atomically (temp file, fsync, ``os.replace``), mode 0600, and always *after* the key,
certificate and CRL files it refers to.

Format ``permit-key-registry-v2`` added ``audit_signers``.  A v1 registry (no audit signer
yet) is read as having none; it is written back as v2, which an older permit refuses as
corrupted instead of silently dropping the audit signers (and un-revoking them on the next
CRL it would issue).  Format v3 added root rollover (a root's ``link_file`` and a retired
root's own ``crl``); it is written only once a root has been rolled over (older versions
refuse it for the same reason: they would stop reissuing the retired root's CRL).  Format v4
added ``status_signers`` (status-list signers); it is written once there is one.

Every file the registry names (certificates, the CRL) must stay inside the keys folder: a
relative path without ``..`` that, symbolic links resolved, is still under the folder.  Ids
(which become file names, also in the exported trust list) are plain names.  A registry that
breaks either rule is refused as :class:`~keys.errors.CorruptKeyFile` naming the entry, on
load and on save.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clock import require_utc
from .errors import CorruptKeyFile, KeysNotInitialised
from .fsutil import write_private_file
from .profiles import PkiPolicy, SignerRole
from .store import Algorithm

__all__ = [
    "REGISTRY_NAME",
    "CrlRecord",
    "MasterKeyRecord",
    "Registry",
    "RootRecord",
    "SignerRecord",
    "check_paths",
    "confined_path",
    "load_registry",
    "save_registry",
]

REGISTRY_NAME = "registry.json"
_FORMAT = "permit-key-registry-v2"
#: Written once a root has been rolled over (v2 has no link certificates).
_FORMAT_ROLLOVER = "permit-key-registry-v3"
#: Written once the directory has status-list signers (older versions would drop them, and
#: un-revoke a revoked one on the next CRL they issued, so they must refuse the file).
_FORMAT_STATUS = "permit-key-registry-v4"
#: Formats read (v1 has no audit signers).
_READABLE = ("permit-key-registry-v1", _FORMAT, _FORMAT_ROLLOVER, _FORMAT_STATUS)


def _t(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _p(value: Any) -> dt.datetime:
    return require_utc(dt.datetime.fromisoformat(str(value)), "a registry time")


@dataclass
class RootRecord:
    id: str
    algorithm: Algorithm
    cert_file: str
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    state: str = "active"  # active (certifies new signers) | retired (rolled over)
    #: The link certificate by which the previous root certified this one (keys/rollover.py).
    link_file: str | None = None
    #: A retired root's own current CRL (the active root's is ``Registry.crl``).
    crl: CrlRecord | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "algorithm": self.algorithm.value,
            "cert_file": self.cert_file,
            "serial": f"{self.serial:x}",
            "not_before": _t(self.not_before),
            "not_after": _t(self.not_after),
            "state": self.state,
        }
        if self.link_file is not None:  # rollover fields only when set: v2 stays as it was
            data["link_file"] = self.link_file
        if self.crl is not None:
            data["crl"] = self.crl.to_json()
        return data

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RootRecord:
        return cls(
            str(d["id"]),
            Algorithm(d["algorithm"]),
            str(d["cert_file"]),
            int(d["serial"], 16),
            _p(d["not_before"]),
            _p(d["not_after"]),
            str(d["state"]),
            str(d["link_file"]) if "link_file" in d else None,
            CrlRecord.from_json(d["crl"]) if "crl" in d else None,
        )


@dataclass
class SignerRecord:
    """A document signer (``ds-NNNN``) or an audit signer (``audit-NNNN``), by ``role``."""

    id: str
    seq: int
    algorithm: Algorithm
    root_id: str
    cert_file: str
    serial: int
    not_before: dt.datetime
    signing_not_after: dt.datetime
    not_after: dt.datetime
    state: str = "active"  # active | retired | revoked
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None
    role: SignerRole = SignerRole.DOCUMENT

    def in_window(self, now: dt.datetime) -> bool:
        return self.not_before <= now < self.signing_not_after

    def effective_state(self, now: dt.datetime) -> str:
        """``revoked``, ``expired`` (certificate), ``retired`` (window closed) or ``active``."""
        if self.state == "revoked":
            return "revoked"
        if now >= self.not_after:
            return "expired"
        if self.state == "retired" or now >= self.signing_not_after:
            return "retired"
        return "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "algorithm": self.algorithm.value,
            "root_id": self.root_id,
            "cert_file": self.cert_file,
            "serial": f"{self.serial:x}",
            "not_before": _t(self.not_before),
            "signing_not_after": _t(self.signing_not_after),
            "not_after": _t(self.not_after),
            "state": self.state,
            "revoked_at": _t(self.revoked_at),
            "revocation_reason": self.revocation_reason,
            "role": self.role.value,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], role: SignerRole = SignerRole.DOCUMENT) -> SignerRecord:
        """A record of the list for ``role``; ValueError if it claims another role."""
        if d.get("role", role.value) != role.value:
            raise ValueError("signer role does not match its list")
        return cls(
            str(d["id"]),
            int(d["seq"]),
            Algorithm(d["algorithm"]),
            str(d["root_id"]),
            str(d["cert_file"]),
            int(d["serial"], 16),
            _p(d["not_before"]),
            _p(d["signing_not_after"]),
            _p(d["not_after"]),
            str(d["state"]),
            _p(d["revoked_at"]) if d.get("revoked_at") else None,
            d.get("revocation_reason"),
            role,
        )


@dataclass
class MasterKeyRecord:
    kvn: int
    created: dt.datetime
    state: str = "active"  # active (new cards) | retired (existing cards only)

    def to_json(self) -> dict[str, Any]:
        return {
            "kvn": self.kvn,
            "id": f"mk-{self.kvn:03d}",
            "algorithm": "aes-128",
            "created": _t(self.created),
            "state": self.state,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MasterKeyRecord:
        return cls(int(d["kvn"]), _p(d["created"]), str(d["state"]))


@dataclass
class CrlRecord:
    number: int
    file: str
    this_update: dt.datetime
    next_update: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "file": self.file,
            "this_update": _t(self.this_update),
            "next_update": _t(self.next_update),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CrlRecord:
        return cls(int(d["number"]), str(d["file"]), _p(d["this_update"]), _p(d["next_update"]))


@dataclass
class Registry:
    store: str
    policy: PkiPolicy
    roots: list[RootRecord] = field(default_factory=list)
    signers: list[SignerRecord] = field(default_factory=list)
    master_keys: list[MasterKeyRecord] = field(default_factory=list)
    crl: CrlRecord | None = None
    audit_signers: list[SignerRecord] = field(default_factory=list)
    status_signers: list[SignerRecord] = field(default_factory=list)

    def signers_of(self, role: SignerRole) -> list[SignerRecord]:
        """The (mutable) list of signers with ``role``."""
        if role is SignerRole.AUDIT:
            return self.audit_signers
        if role is SignerRole.STATUS_LIST:
            return self.status_signers
        return self.signers

    def all_signers(self) -> list[SignerRecord]:
        """Every end-entity signer of every role (revocation, CRLs, path checks)."""
        return [*self.signers, *self.audit_signers, *self.status_signers]

    def _format(self) -> str:
        if self.status_signers:
            return _FORMAT_STATUS  # v4 includes v3's rollover fields
        return _FORMAT_ROLLOVER if len(self.roots) > 1 else _FORMAT

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": self._format(),
            "store": self.store,
            "policy": self.policy.to_json(),
            "roots": [r.to_json() for r in self.roots],
            "signers": [s.to_json() for s in self.signers],
            "audit_signers": [s.to_json() for s in self.audit_signers],
            "master_keys": [m.to_json() for m in self.master_keys],
            "crl": None if self.crl is None else self.crl.to_json(),
        }
        if self.status_signers:
            data["status_signers"] = [s.to_json() for s in self.status_signers]
        return data

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Registry:
        if d.get("format") not in _READABLE:
            raise ValueError("format")
        return cls(
            store=str(d["store"]),
            policy=PkiPolicy.from_json(d["policy"]),
            roots=[RootRecord.from_json(r) for r in d["roots"]],
            signers=[SignerRecord.from_json(s) for s in d["signers"]],
            master_keys=[MasterKeyRecord.from_json(m) for m in d["master_keys"]],
            crl=None if d.get("crl") is None else CrlRecord.from_json(d["crl"]),
            audit_signers=[
                SignerRecord.from_json(s, SignerRole.AUDIT) for s in d.get("audit_signers", [])
            ],
            status_signers=[
                SignerRecord.from_json(s, SignerRole.STATUS_LIST)
                for s in d.get("status_signers", [])
            ],
        )


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def confined_path(directory: Path, relative: str) -> Path:
    """``directory / relative`` if it stays inside ``directory`` (symbolic links resolved);
    :class:`CorruptKeyFile` otherwise (absolute paths, ``..``, links pointing out)."""
    refused = CorruptKeyFile(
        f"key registry names {relative!r}, outside the keys folder {directory}: refused"
    )
    parts = relative.split("/")
    if (
        not relative
        or "\0" in relative
        or os.path.isabs(relative)
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise refused
    path = directory / relative
    base = directory.resolve()
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise refused from None
    if not resolved.is_relative_to(base) or resolved == base:
        raise refused
    return path


def check_paths(directory: Path, registry: Registry) -> None:
    """Refuse a registry whose files leave ``directory`` or whose ids are not plain names."""
    ids = [r.id for r in registry.roots]
    ids += [s.id for s in registry.all_signers()]
    for key_id in ids:
        if _ID.fullmatch(key_id) is None:
            raise CorruptKeyFile(f"key registry names an invalid key id {key_id!r}")
    files = [r.cert_file for r in registry.roots]
    files += [s.cert_file for s in registry.all_signers()]
    if registry.crl is not None:
        files.append(registry.crl.file)
    for relative in files:
        confined_path(directory, relative)


def load_registry(directory: Path) -> Registry:
    path = directory / REGISTRY_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeysNotInitialised(
            f"no key registry in {directory} (run 'permit keys init')"
        ) from None
    try:
        registry = Registry.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError):
        # ValueError includes bad UTF-8 and PkiPolicy's range checks; OverflowError: a
        # number like 1e400 turned into an int; RecursionError: absurdly nested JSON
        raise CorruptKeyFile(f"key registry {path} is corrupted") from None
    check_paths(directory, registry)
    return registry


def save_registry(directory: Path, registry: Registry) -> None:
    check_paths(directory, registry)
    data = json.dumps(registry.to_json(), indent=1, sort_keys=True).encode() + b"\n"
    write_private_file(directory / REGISTRY_NAME, data)
