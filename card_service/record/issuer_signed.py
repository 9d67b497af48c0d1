"""Build and sign the ISO/IEC 18013-5 IssuerSigned structure stored in EF.Record.

::

    IssuerSigned = {
      "nameSpaces": {NAMESPACE: [+ IssuerSignedItemBytes]},
      "issuerAuth": COSE_Sign1      ; payload = MobileSecurityObjectBytes
    }
    IssuerSignedItemBytes = #6.24(bstr .cbor IssuerSignedItem)
    IssuerSignedItem = {"digestID": uint, "random": bstr(32),
                        "elementIdentifier": tstr, "elementValue": any}

Digest IDs are a random permutation of ``0..n-1`` and the items are stored in digest-ID order,
so neither an ID nor a position tells which element a withheld digest belongs to; each salt is
32 random bytes (18013-5 asks for at least 16), so a withheld element cannot be guessed from
its digest.  Parsing is :mod:`.record_parser` (:func:`parse_record`, re-exported here).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cbor2 import CBORTag
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from keys.clock import require_utc

from .cbor_types import dumps, embedded_bytes
from .cose import sign1
from .data import PermitData
from .errors import RecordError, SigningError
from .mso import NAMESPACE, build_mso_bytes
from .record_parser import (
    ITEM_ENCODING,
    ITEM_KEYS,
    ITEM_SHAPE,
    RECORD_MAX_BYTES,
    SALT_BYTES,
    DecodedRecord,
    ItemProblem,
    ParsedItem,
    ParsedRecord,
    RecordFormatError,
    check_item,
    decode_record,
    parse_record,
)
from .schedule import local_midnight
from .status_ref import StatusReference

__all__ = [  # the parser lives in .record_parser; its names stay importable from here
    "ITEM_ENCODING",
    "ITEM_KEYS",
    "ITEM_SHAPE",
    "RECORD_MAX_BYTES",
    "SALT_BYTES",
    "DecodedRecord",
    "ItemProblem",
    "ParsedItem",
    "ParsedRecord",
    "RecordFormatError",
    "check_item",
    "decode_record",
    "encode_record",
    "parse_record",
    "sign_record",
]


def _item_bytes(digest_id: int, identifier: str, value: Any, salt: bytes) -> bytes:
    return dumps(
        {
            "digestID": digest_id,
            "random": salt,
            "elementIdentifier": identifier,
            "elementValue": value,
        }
    )


def sign_record(
    data: PermitData,
    *,
    card_key: ec.EllipticCurvePublicKey,
    signer_key: ec.EllipticCurvePrivateKey,
    signer_chain: Sequence[x509.Certificate],
    now: dt.datetime,
    randbytes: Callable[[int], bytes] = secrets.token_bytes,
    status: StatusReference | None = None,
) -> bytes:
    """Validate ``data`` and return the signed IssuerSigned record (CBOR bytes).

    ``signer_key`` is any P-256 ``ec.EllipticCurvePrivateKey`` (e.g.
    ``keys.signer.StoreEcPrivateKey``); ``signer_chain`` is the document signer's certificate
    first.  ``card_key`` is the card's authentication key; it goes into deviceKeyInfo.
    ``status``: the permit's status reference (index and status-list URI): the record is
    then format 2 (MSO version 2.0); without it format 1, which every issuance since
    format 2 avoids (samples and tests of format-1 records use it).
    Raises :class:`~card_service.record.errors.RecordValidationError` for bad data and
    :class:`~card_service.record.errors.RecordError` if the record would not fit EF.Record.
    """
    require_utc(now)
    data.validate()
    if not signer_chain:
        raise SigningError("the signer certificate chain is empty")
    leaf = signer_chain[0]
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise SigningError("the signer certificate is not valid now")
    elements = data.elements()
    ids = list(range(len(elements)))
    secrets.SystemRandom().shuffle(ids)
    items: list[tuple[int, bytes]] = []
    digests: dict[int, bytes] = {}
    for digest_id, (identifier, value) in zip(ids, elements.items(), strict=True):
        inner = _item_bytes(digest_id, identifier, value, randbytes(SALT_BYTES))
        digests[digest_id] = hashlib.sha256(embedded_bytes(inner)).digest()
        items.append((digest_id, inner))
    items.sort()
    payload = build_mso_bytes(
        digests,
        card_key,
        signed=now,
        valid_from=local_midnight(data.issue_date),
        valid_until=local_midnight(data.expiry_date + dt.timedelta(days=1)),
        status=status,
    )
    issuer_auth = sign1(payload, signer_key, signer_chain)
    record = encode_record({NAMESPACE: [inner for _, inner in items]}, issuer_auth)
    if len(record) > RECORD_MAX_BYTES:
        raise RecordError(f"record is {len(record)} bytes; EF.Record holds {RECORD_MAX_BYTES}")
    return record


def encode_record(namespaces: Mapping[str, Sequence[bytes]], issuer_auth: list[Any]) -> bytes:
    """Encode IssuerSigned from already encoded items (tag 24 is added here)."""
    return dumps(
        {
            "nameSpaces": {ns: [CBORTag(24, b) for b in items] for ns, items in namespaces.items()},
            "issuerAuth": issuer_auth,
        }
    )
