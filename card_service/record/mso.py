"""The MobileSecurityObject (ISO/IEC 18013-5 section 9.1.2.4) of a permit record.

::

    MobileSecurityObject = {
      "version": "1.0",
      "digestAlgorithm": "SHA-256",
      "valueDigests": {NAMESPACE: {digestID: bstr(32)}},
      "deviceKeyInfo": {"deviceKey": COSE_Key},      ; the card's own P-256 key
      "docType": DOC_TYPE,
      "validityInfo": {"signed": tdate, "validFrom": tdate, "validUntil": tdate},
      "status": {"status_list": {"idx": uint, "uri": tstr}}   ; version "2.0" only
    }

Version "1.0" (record format 1) has no ``status``; version "2.0" (record format 2) must carry
the status reference of draft-ietf-oauth-status-list ("ISO mdoc": the ``status`` parameter of
the MSO holding the ``Status`` CBOR structure; :mod:`.status_ref`).  Both are parsed; a
record is written as version 2 whenever it is given a status reference.

It travels as MobileSecurityObjectBytes = ``#6.24(bstr .cbor MobileSecurityObject)``, which
is the COSE_Sign1 payload; an endorsement binds the SHA-256 of exactly those bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec

from permit_errors import ErrorKind, PermitError

from .cbor_types import (
    MSO_TAGS,
    CborError,
    as_utc,
    dumps,
    embedded_bytes,
    is_deterministic,
    key_order,
    loads_prefix,
    tdate,
)
from .cose import CoseError, cose_key, public_key_from_cose_key
from .status_ref import StatusError, StatusReference, parse_status

__all__ = [
    "DIGEST_ALGORITHM",
    "DOC_TYPE",
    "MSO_VERSION",
    "MSO_VERSION_1",
    "MSO_VERSION_2",
    "NAMESPACE",
    "MsoError",
    "MsoInfo",
    "build_mso_bytes",
    "mso_digest",
    "parse_mso",
]

#: The document type of a residence-permit record (reverse DNS under the project's domain).
DOC_TYPE = "org.permit.residence.1.permit"
#: The namespace of the permit data elements.
NAMESPACE = "org.permit.residence.1"
#: Record format 1 (no status reference) and 2 (with one): what ``version`` says.
MSO_VERSION_1 = "1.0"
MSO_VERSION_2 = "2.0"
#: The version written for a record with a status reference (every permit since format 2).
MSO_VERSION = MSO_VERSION_2
DIGEST_ALGORITHM = "SHA-256"
#: Most digest IDs the MSO may hold (16 elements today; room for additions).
MAX_DIGESTS = 64


_MSO_KEYS_V1 = key_order(
    ("version", "digestAlgorithm", "valueDigests", "deviceKeyInfo", "docType", "validityInfo")
)
_MSO_KEYS_V2 = key_order((*_MSO_KEYS_V1, "status"))
_MSO_KEYS = {MSO_VERSION_1: _MSO_KEYS_V1, MSO_VERSION_2: _MSO_KEYS_V2}
_VALIDITY_KEYS = key_order(("signed", "validFrom", "validUntil"))


class MsoError(PermitError, ValueError):
    """The MSO is not well formed; ``code`` says which rule."""

    code = "mso_invalid"
    kind = ErrorKind.INTEGRITY

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def build_mso_bytes(
    digests: Mapping[int, bytes],
    device_key: ec.EllipticCurvePublicKey,
    signed: dt.datetime,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    status: StatusReference | None = None,
) -> bytes:
    """MobileSecurityObjectBytes (the encoded tag 24 item) for the given element digests:
    version 2 with ``status``, version 1 without (kept for tests of format-1 records)."""
    mso: dict[str, object] = {
        "version": MSO_VERSION_1 if status is None else MSO_VERSION_2,
        "digestAlgorithm": DIGEST_ALGORITHM,
        "valueDigests": {NAMESPACE: dict(digests)},
        "deviceKeyInfo": {"deviceKey": cose_key(device_key)},
        "docType": DOC_TYPE,
        "validityInfo": {
            "signed": tdate(signed),
            "validFrom": tdate(valid_from),
            "validUntil": tdate(valid_until),
        },
    }
    if status is not None:
        mso["status"] = status.to_cbor()
    return embedded_bytes(dumps(mso))


def mso_digest(mso_bytes: bytes) -> bytes:
    """SHA-256 of MobileSecurityObjectBytes (what an endorsement binds)."""
    return hashlib.sha256(mso_bytes).digest()


class MsoInfo(NamedTuple):
    """A parsed MSO (its signature is checked separately)."""

    doc_type: str
    value_digests: Mapping[str, Mapping[int, bytes]]
    device_key: ec.EllipticCurvePublicKey | None
    signed: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    #: ``"1.0"`` or ``"2.0"`` (record format 1 or 2).
    version: str = MSO_VERSION_1
    #: The status reference (always present in version 2, never in version 1).
    status: StatusReference | None = None


def _tag24_content(payload: bytes) -> bytes | None:
    """The bytes inside ``#6.24(bstr)`` if ``payload`` is exactly that (shortest heads)."""
    if payload[:2] != b"\xd8\x18" or len(payload) < 3:
        return None
    head = payload[2]
    if 0x40 <= head < 0x58:
        start, length = 3, head - 0x40
    elif head == 0x58:
        start, length = 4, int.from_bytes(payload[3:4], "big")
    elif head == 0x59:
        start, length = 5, int.from_bytes(payload[3:5], "big")
    elif head == 0x5A:
        start, length = 7, int.from_bytes(payload[3:7], "big")
    else:
        return None
    if len(payload) != start + length:
        return None
    return payload[start:]


def parse_mso(payload: bytes) -> MsoInfo:
    """Parse MobileSecurityObjectBytes; :class:`MsoError` names the first broken rule.

    A bad deviceKey does not stop parsing (``device_key`` is ``None``): the verifier reports it
    as a card problem and still checks the rest.
    """
    inner = _tag24_content(payload)
    if inner is None:
        raise MsoError("mso_not_tag24", "MSO payload must be #6.24(bstr)")
    try:
        mso = loads_prefix(inner, MSO_TAGS)
    except CborError as exc:
        raise MsoError("mso_undecodable", f"MSO: {exc}") from None
    if not isinstance(mso, dict):
        raise MsoError("mso_not_map", "MSO must be a map")
    version = mso.get("version")
    if type(version) is not str or version not in _MSO_KEYS:
        raise MsoError("mso_version", "MSO version must be 1.0 or 2.0")
    expected = _MSO_KEYS[version]
    if set(mso) != set(expected):
        if version == MSO_VERSION_2 and "status" not in mso:
            raise MsoError("mso_status", "a version 2.0 MSO must carry its status reference")
        raise MsoError("mso_keys", "MSO must hold exactly the keys its version defines")
    if not is_deterministic(mso, inner) or tuple(mso) != expected:
        raise MsoError("mso_encoding", "MSO is not in deterministic encoding")
    status = None
    if version == MSO_VERSION_2:
        try:
            status = parse_status(mso["status"])
        except StatusError as exc:
            raise MsoError("mso_status", str(exc)) from None
    if mso.get("digestAlgorithm") != DIGEST_ALGORITHM:
        raise MsoError("mso_digest_algorithm", "digestAlgorithm must be SHA-256")
    doc_type = mso.get("docType")
    if not isinstance(doc_type, str):
        raise MsoError("mso_doctype", "docType must be a text string")
    digests = mso.get("valueDigests")
    if not isinstance(digests, dict) or not digests:
        raise MsoError("mso_value_digests", "valueDigests must be a non-empty map")
    if len(digests) > 1 and tuple(digests) != key_order(digests):
        raise MsoError("mso_encoding", "MSO is not in deterministic encoding")
    total = 0
    for ns, ids in digests.items():
        if type(ns) is not str or type(ids) is not dict:
            raise MsoError("mso_value_digests", "valueDigests must map namespaces to maps")
        for key, digest in ids.items():
            if (
                type(key) is not int
                or not 0 <= key < 2**31
                or type(digest) is not bytes
                or len(digest) != 32
            ):
                raise MsoError("mso_value_digests", "digest IDs must be uints -> 32-byte digests")
        keys = list(ids)
        if keys != sorted(keys):  # uints: ascending is the deterministic order
            raise MsoError("mso_encoding", "MSO is not in deterministic encoding")
        total += len(ids)
    if total > MAX_DIGESTS:
        raise MsoError("mso_value_digests", f"more than {MAX_DIGESTS} digests")
    info = mso.get("validityInfo")
    if type(info) is not dict or tuple(info) != _VALIDITY_KEYS:
        raise MsoError("mso_validity_info", "validityInfo must be {signed, validFrom, validUntil}")
    signed, valid_from, valid_until = (
        as_utc(info.get("signed")),
        as_utc(info.get("validFrom")),
        as_utc(info.get("validUntil")),
    )
    if signed is None or valid_from is None or valid_until is None:
        raise MsoError("mso_validity_info", "validityInfo needs signed, validFrom, validUntil")
    if not valid_from < valid_until:
        raise MsoError("mso_validity_info", "validFrom must be before validUntil")
    device_key = None
    key_info = mso.get("deviceKeyInfo")
    if type(key_info) is dict and tuple(key_info) == ("deviceKey",):
        try:
            device_key = public_key_from_cose_key(key_info.get("deviceKey"))
        except CoseError:
            device_key = None
    return MsoInfo(doc_type, digests, device_key, signed, valid_from, valid_until, version, status)
