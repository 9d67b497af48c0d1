"""The verifier's check of the disclosed items against the digests the MSO signs.

The items come from the record's one parser (:func:`.record_parser.parse_record`), each with
its digest over the tag-24 bytes as received.  An item in a non-deterministic encoding is
reported and its digest still compared, so a re-encoded genuine item is MALFORMED while a
changed one is FORGED; only exact, digest-verified items of this version's namespace, with
the element's CBOR type, become ``elements``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .data import ELEMENT_TYPES
from .mso import NAMESPACE
from .record_parser import ITEM_ENCODING, ItemProblem, ParsedRecord
from .verdict import Reason, Verdict

__all__ = ["check_items"]


def check_items(
    parsed: ParsedRecord,
    value_digests: Mapping[str, Mapping[int, bytes]],
    reasons: list[Reason],
) -> tuple[dict[str, Any], set[str]]:
    """Digest-check every item; return the verified elements and all identifiers seen."""
    elements: dict[str, Any] = {}
    present: set[str] = set()
    seen: dict[str, set[int]] = {}
    current: str | None = None
    signed: Mapping[int, bytes] | None = None
    seen_ids: set[int] = set()
    for entry in parsed.entries:
        if isinstance(entry, ItemProblem):
            reasons.append(Reason(entry.code, Verdict.MALFORMED, entry.message))
            continue
        ns, digest_id, identifier, value, _, digest, exact = entry
        if ns != current:
            current, signed = ns, value_digests.get(ns)
            seen_ids = seen.setdefault(ns, set())
        if not exact:  # reported, and its digest is still compared (to name a forgery)
            reasons.append(Reason("item_encoding", Verdict.MALFORMED, ITEM_ENCODING))
        present.add(identifier)
        known = identifier if identifier in ELEMENT_TYPES else None
        if signed is None:
            reasons.append(
                Reason("namespace_unsigned", Verdict.FORGED, "a namespace has no digests")
            )
            continue
        expected = signed.get(digest_id)
        if expected is None:
            reasons.append(
                Reason(
                    "digest_id_unknown",
                    Verdict.FORGED,
                    "an element's digest ID is not in the MSO",
                    known,
                )
            )
            continue
        if digest != expected:
            reasons.append(
                Reason(
                    "digest_mismatch",
                    Verdict.FORGED,
                    "an element does not match its signed digest",
                    known,
                )
            )
            continue
        if not exact:
            continue
        # a genuine item present twice is a structural error, not a forgery
        if digest_id in seen_ids:
            reasons.append(
                Reason("digest_id_duplicate", Verdict.MALFORMED, "a digest ID occurs twice")
            )
            continue
        seen_ids.add(digest_id)
        expected_type = ELEMENT_TYPES.get(identifier)
        if expected_type is None or ns != NAMESPACE:
            continue  # a signed element this version does not know: ignored
        if identifier in elements:
            reasons.append(
                Reason(
                    "element_duplicate", Verdict.MALFORMED, "an element occurs twice", identifier
                )
            )
            continue
        if type(value) is not expected_type:
            reasons.append(
                Reason(
                    "element_type",
                    Verdict.MALFORMED,
                    "an element has the wrong CBOR type",
                    identifier,
                )
            )
            continue
        elements[identifier] = value
    return elements, present
