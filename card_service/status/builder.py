"""Build and sign the status list of every permit index (the issuer side).

:func:`build_status_list` is what the register (later) calls with the statuses of all
indices it has handed out: one Status List Token, ``bits`` = 2, signed by the current
status-list signer (``KeyManager.status_signer(now)``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from .encoding import PERMIT_BITS, Status, StatusList
from .token import ListSigner, encode_token

__all__ = ["DEFAULT_LIFETIME", "DEFAULT_TTL", "build_status_list"]

#: Verifiers refetch after this many seconds (``ttl``).
DEFAULT_TTL = 3600
#: A list is valid this long after it is issued (``exp``); a verifier offline for longer
#: gets "status unknown", not a stale answer.
DEFAULT_LIFETIME = dt.timedelta(hours=24)


def build_status_list(
    statuses: Mapping[int, Status | int] | Sequence[Status | int] | bytes,
    size: int,
    uri: str,
    signer: ListSigner,
    now: dt.datetime,
    ttl: int = DEFAULT_TTL,
    *,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> bytes:
    """The Status List Token (CWT bytes) of ``size`` indices.

    ``statuses``: a mapping index -> :class:`Status` (absent indices are VALID) or a sequence
    of statuses by index (one byte per index in a ``bytes`` is fastest), at most ``size``
    long.  ``uri`` becomes ``sub`` (the ``uri`` of every permit's status reference); ``iat``
    = ``now``, ``exp`` = ``now + lifetime``, ``ttl`` as given.  Bad arguments are
    :class:`~card_service.status.errors.StatusListBuildError`.
    """
    status_list = StatusList.build(statuses, size, PERMIT_BITS)
    return encode_token(
        status_list,
        uri=uri,
        signer=signer,
        issued_at=now,
        expires_at=now + lifetime,
        ttl=ttl,
    )
