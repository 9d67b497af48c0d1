"""Selective disclosure: a presentation holds only the chosen elements of a record.

A presentation is an IssuerSigned with a subset of the IssuerSignedItems and the *same*
issuerAuth: it verifies exactly like the full record.  A withheld element is represented only
by its digest in the MSO; with a 32-byte random salt per item and randomly permuted digest IDs
nothing about its value (or even which element it was) can be derived.

"Permit valid" is not an element: it is the verdict the verifier computes at ``now`` (MSO
validity window, revocation, endorsements, card proof).  "Years of residence" is computed by
the verifier from ``residence_began`` (and late endorsements) at ``now``.  The presets below
therefore disclose only signed facts:

* :data:`MERCHANT`: ``residence_began`` (years of residence) plus the mandatory elements;
* :data:`BANK`: name, citizen ID number, expiry date plus the mandatory elements.

Every presentation also carries :data:`~card_service.record.data.MANDATORY_ELEMENTS`
(``permit_number`` for the revocation check and endorsement binding, ``first_endorsement_due``
for the endorsement schedule).
"""

from __future__ import annotations

from collections.abc import Iterable

from .data import ELEMENT_TYPES, MANDATORY_ELEMENTS
from .errors import RecordError
from .issuer_signed import RecordFormatError, encode_record, parse_record

__all__ = ["BANK", "MERCHANT", "present"]

MERCHANT: tuple[str, ...] = ("residence_began",)
BANK: tuple[str, ...] = ("full_name", "citizen_id", "expiry_date")


def present(record: bytes, elements: Iterable[str]) -> bytes:
    """A presentation of ``record`` disclosing ``elements`` (plus the mandatory ones).

    Raises :class:`RecordError` if an element is unknown or not in the record, or if the
    record cannot be parsed.  The issuerAuth is copied unchanged, so the holder needs no key.
    """
    wanted = set(elements)
    unknown = sorted(wanted - set(ELEMENT_TYPES))
    if unknown:
        raise RecordError(f"unknown elements: {', '.join(unknown)}")
    wanted |= set(MANDATORY_ELEMENTS)
    try:
        parsed = parse_record(record)
    except RecordFormatError as exc:
        raise RecordError(f"cannot present a malformed record ({exc.code})") from None
    if parsed.problems:
        raise RecordError("cannot present a record with malformed items")
    present_ids = {item.identifier for item in parsed.items}
    missing = sorted(wanted - present_ids)
    if missing:
        raise RecordError(f"elements not in the record: {', '.join(missing)}")
    namespaces: dict[str, list[bytes]] = {}
    for item in sorted(parsed.items, key=lambda i: (i.namespace, i.digest_id)):
        if item.identifier in wanted:
            namespaces.setdefault(item.namespace, []).append(item.encoded)
    return encode_record(namespaces, parsed.issuer_auth)
