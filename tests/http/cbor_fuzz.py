"""The presentation's record is CBOR inside JSON (base64url text: no CBOR media type, so no
request body for a schemathesis serializer).  Its schema names the format
``base64url-cbor``; :func:`register` gives schemathesis a strategy for it: random CBOR
documents, and real records (of cards issued here, on run-time keys) with one value
replaced, so the record parser and the verifier meet CBOR, not only random base64 text.
The other byte fields (``base64url``) are random bytes in that alphabet, so a presentation
gets past its decoding to the nonce and the verifier."""

from __future__ import annotations

import base64
from typing import Any

import cbor2
import schemathesis
from hypothesis import strategies as st

from card_service.office import ephemeral_office
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.http.conftest import PKI, insert_blank

__all__ = ["BYTES_FORMAT", "RECORD_FORMAT", "register", "sample_records"]

#: The ``format`` of ``PresentationBody.record`` (api/http/relying_models.py).
RECORD_FORMAT = "base64url-cbor"
#: The ``format`` of its other byte fields (the card's signature, the endorsements).
BYTES_FORMAT = "base64url"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=64)
    | st.text(max_size=32)
)
CBOR_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=16) | st.integers(-24, 24), inner, max_size=4)
        | st.builds(cbor2.CBORTag, st.sampled_from([0, 1, 18, 24, 1004]), inner)
    ),
    max_leaves=12,
)


def sample_records(count: int = 2) -> list[bytes]:
    """Presentations (with ``full_name``) of ``count`` freshly issued cards."""
    nonce = base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()
    records = []
    with ephemeral_office(NOW, pki=PKI, slots=count) as office:
        for slot in range(count):
            reader = insert_blank(office, slot)
            office.issue(synthetic_application(NOW, seed=90 + slot), reader, NOW)
            records.append(office.present_card(reader, nonce, ["full_name"]).record)
    return records


def _replace_somewhere(document: Any, draw: Any) -> Any:
    """``document`` with one value somewhere in its tree of maps and arrays replaced (each
    level: stop here, or go down into one child)."""
    if isinstance(document, dict) and document:
        key = draw(st.sampled_from(sorted(document, key=repr)))
        go_down = isinstance(document[key], (dict, list)) and draw(st.booleans())
        document[key] = _replace_somewhere(document[key], draw) if go_down else draw(CBOR_VALUES)
    elif isinstance(document, list) and document:
        index = draw(st.integers(0, len(document) - 1))
        go_down = isinstance(document[index], (dict, list)) and draw(st.booleans())
        document[index] = (
            _replace_somewhere(document[index], draw) if go_down else draw(CBOR_VALUES)
        )
    return document


def _records(samples: list[bytes]) -> st.SearchStrategy[str]:
    @st.composite
    def records(draw: Any) -> str:
        if draw(st.booleans()):
            document = _replace_somewhere(cbor2.loads(draw(st.sampled_from(samples))), draw)
        else:
            document = draw(CBOR_VALUES)
        return _b64(cbor2.dumps(document))

    return records()


_registered = False


def register() -> None:
    """Register the ``base64url-cbor`` and ``base64url`` strategies with schemathesis (once
    per process)."""
    global _registered
    if not _registered:
        schemathesis.openapi.format(RECORD_FORMAT, _records(sample_records()))
        schemathesis.openapi.format(BYTES_FORMAT, st.binary(max_size=64).map(_b64))
        _registered = True
