"""API keys: their format, how they are made, and how a presented key is checked.

A key reads ``permit_<client id>_<secret>``: the client id (``pc_`` and 16 hex digits) is
public, so a key is recognisable in a configuration file or a secret scanner and its client
is found by primary key, without scanning; the secret is 32 random bytes
(:func:`secrets.token_urlsafe`, 43 characters).

Only SHA-256 of the whole key is stored.  A slow password hash (scrypt, Argon2) protects
*guessable* secrets against a stolen database; a 256-bit random secret cannot be guessed,
so one SHA-256 is as strong and keeps authentication cheap on every request.  Hashing the
whole key, id included, binds the hash to its row: a hash copied to another row matches no
key.  The comparison is :func:`hmac.compare_digest` (constant time); a key whose id is
unknown is compared against :data:`DUMMY_HASH`, so an unknown id and a wrong secret take
the same time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from . import Unauthenticated

__all__ = [
    "CLIENT_ID_PATTERN",
    "DUMMY_HASH",
    "KEY_MAX_LENGTH",
    "KEY_PREFIX",
    "UNAUTHENTICATED",
    "hash_key",
    "key_matches",
    "new_client_id",
    "new_key",
    "parse_key",
]

KEY_PREFIX = "permit_"
#: A client id: ``pc_`` and 16 lower-case hex digits (64 random bits: never guessed twice).
CLIENT_ID_PATTERN = re.compile(r"pc_[0-9a-f]{16}", re.ASCII)
_SECRET_BYTES = 32
_KEY = re.compile(r"permit_(pc_[0-9a-f]{16})_([A-Za-z0-9_-]{43})", re.ASCII)
#: Longer input is refused before any parsing (a key is 70 characters).
KEY_MAX_LENGTH = 128
#: The one message of every failed authentication (never says why, never echoes the key).
UNAUTHENTICATED = "missing, unknown, expired or revoked API key"
#: Compared against when the client id is unknown (no timing difference to a wrong secret).
DUMMY_HASH = hashlib.sha256(b"permit: no such client").hexdigest()


def new_client_id() -> str:
    """A fresh random client id, ``pc_`` + 16 hex digits."""
    return "pc_" + secrets.token_hex(8)


def new_key(client_id: str) -> str:
    """A fresh key for ``client_id``: ``permit_<client id>_<43 characters of secret>``."""
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ValueError("not a client id")
    return f"{KEY_PREFIX}{client_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def parse_key(key: object) -> str:
    """The client id of a well-formed key; :class:`Unauthenticated` for anything else."""
    if not isinstance(key, str) or len(key) > KEY_MAX_LENGTH:
        raise Unauthenticated(UNAUTHENTICATED)
    match = _KEY.fullmatch(key)
    if match is None:
        raise Unauthenticated(UNAUTHENTICATED)
    return match.group(1)


def hash_key(key: str) -> str:
    """What is stored for ``key``: SHA-256 of the whole key, hex (see the module docs)."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    """Whether ``key`` hashes to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_key(key).encode(), stored_hash.encode())
