"""Helpers shared by the key tests and the audit tests."""

from __future__ import annotations

import json

from keys.pki import KeyManager


def make_legacy_key_directory(manager: KeyManager) -> None:
    """Turn a freshly initialised key directory into one written before audit signers existed:
    a ``permit-key-registry-v1`` registry without ``audit_signers`` or ``role`` fields, and no
    audit key or certificate (in either store); nor status-list signers (registry v4), which
    came later still."""
    registry = manager.registry
    for record in [*registry.audit_signers, *registry.status_signers]:
        manager.store.delete(record.id)
        (manager.directory / record.cert_file).unlink()
    path = manager.directory / "registry.json"
    data = json.loads(path.read_text())
    data["format"] = "permit-key-registry-v1"
    del data["audit_signers"]
    data.pop("status_signers", None)
    for signer in data["signers"]:
        del signer["role"]
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    manager.close()  # drop cached keys and sessions; the registry is re-read (new stamp)
