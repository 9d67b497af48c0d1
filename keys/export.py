"""Read-only views of a key directory: ``permit keys list`` and ``permit keys export-trust``.

Nothing here creates a key or changes the registry; :func:`export_trust` only asks the
manager to reissue a CRL that is within its refresh margin before exporting it (that takes
the lock and the store).  No secret is ever shown or written: the export is public material
for verifiers (certificates, CRLs and a ``manifest.json`` with their SHA-256).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .crls import crl_due, crl_duty_until
from .fsutil import PUBLIC_FILE_MODE, check_output_path, ensure_output_dir, write_public_file
from .profiles import SignerRole
from .rollover import export_rollover

if TYPE_CHECKING:
    from .pki import KeyManager

__all__ = ["TRUST_FORMAT", "TrustBundle", "describe", "export_trust", "trust_bundle"]

log = logging.getLogger(__name__)

#: ``format`` of the exported ``manifest.json``.
TRUST_FORMAT = "permit-trust-v1"


def describe(manager: KeyManager, now: dt.datetime) -> dict[str, Any]:
    """Everything ``permit keys list`` shows (no secrets); ``now`` is UTC."""
    registry = manager.registry
    roots = []
    for r in registry.roots:
        row = r.to_json()
        if r.state == "active" and not r.not_before <= now < r.not_after:
            row["state"] = "expired"
        if r.state == "retired":
            row["crl_until"] = crl_duty_until(registry, r).isoformat()
        roots.append(row)
    windows = {
        SignerRole.DOCUMENT: registry.policy.signing_window_days,
        SignerRole.AUDIT: registry.policy.audit_signing_window_days,
        SignerRole.STATUS_LIST: registry.policy.signing_window_days,
    }
    signers: dict[SignerRole, list[dict[str, Any]]] = {}
    for role in SignerRole:
        signers[role] = []
        for s in registry.signers_of(role):
            row = s.to_json()
            row["state"] = s.effective_state(now)
            row["signing_window_days"] = windows[role]
            signers[role].append(row)
    return {
        "directory": str(manager.directory),
        "store": registry.store,
        "policy": registry.policy.to_json(),
        "roots": roots,
        "signers": signers[SignerRole.DOCUMENT],
        "audit_signers": signers[SignerRole.AUDIT],
        "status_signers": signers[SignerRole.STATUS_LIST],
        "master_keys": [m.to_json() for m in registry.master_keys],
        "crl": None if registry.crl is None else registry.crl.to_json(),
    }


@dataclass(frozen=True)
class TrustBundle:
    """The trust list as public material: ``manifest.json``'s content and the PEM files it
    names (``name -> bytes``), as :func:`export_trust` writes them."""

    manifest: dict[str, Any]
    files: dict[str, bytes]


def trust_bundle(manager: KeyManager, now: dt.datetime, *, refresh: bool = True) -> TrustBundle:
    """Root(s), the current CRL, document and audit signer certificates, links, retired
    roots' CRLs and the manifest, in memory.

    With ``refresh`` a CRL within its refresh margin is reissued first (that needs the
    store); without, only files are read (no passphrase or PIN): the HTTP ``GET /v1/trust``.
    """
    if refresh and crl_due(manager.registry, now):
        manager.refresh_crl(now)
    registry = manager.registry
    files: dict[str, bytes] = {}
    manifest: dict[str, Any] = {
        "format": TRUST_FORMAT,
        "generated_at": now.isoformat(),
        "roots": [],
        "signers": [],
        "audit_signers": [],
        "crl": None,
    }
    for r in registry.roots:
        name = f"root-{r.id.removeprefix('root-')}.pem"
        files[name] = manager._public_pem(r.cert_file)
        manifest["roots"].append({"id": r.id, "file": name, "not_after": r.not_after.isoformat()})
    for key, records in (
        ("signers", registry.signers),
        ("audit_signers", registry.audit_signers),
    ):
        for s in records:
            name = f"signer-{s.id}.pem"
            files[name] = manager._public_pem(s.cert_file)
            manifest[key].append(
                {
                    "id": s.id,
                    "role": s.role.value,
                    "file": name,
                    "state": s.effective_state(now),
                    "signing_not_after": s.signing_not_after.isoformat(),
                    "not_after": s.not_after.isoformat(),
                }
            )
    if registry.crl is not None:
        files["crl.pem"] = manager._public_pem(registry.crl.file, crl=True)
        manifest["crl"] = {
            "file": "crl.pem",
            "number": registry.crl.number,
            "next_update": registry.crl.next_update.isoformat(),
        }
    for entry in [
        *manifest["roots"],
        *manifest["signers"],
        *manifest["audit_signers"],
        *([manifest["crl"]] if manifest["crl"] else []),
    ]:
        entry["sha256"] = hashlib.sha256(files[entry["file"]]).hexdigest()
    export_rollover(manager, files, manifest)  # links and retired roots' CRLs, hashed there
    return TrustBundle(manifest, files)


def export_trust(manager: KeyManager, target: Path, now: dt.datetime) -> Path:
    """Write root(s), the current CRL, document and audit signer certificates and
    ``manifest.json`` (``signers`` and ``audit_signers``, each entry with its ``role``).

    The CRL is reissued first if it is within its refresh margin (that needs the store).
    Returns the manifest path; ``now`` is UTC, whole seconds.
    """
    bundle = trust_bundle(manager, now)
    files, manifest = bundle.files, bundle.manifest
    # never through a link planted in ``target``; 0644: public material for verifiers
    ensure_output_dir(target)
    for name in [*files, "manifest.json"]:  # all refused before any is written
        check_output_path(target / name)
    for name, data in files.items():
        write_public_file(target / name, data, mode=PUBLIC_FILE_MODE)
    manifest_path = target / "manifest.json"
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    write_public_file(manifest_path, text.encode(), mode=PUBLIC_FILE_MODE)
    log.info("exported trust list to %s", target)
    return manifest_path
