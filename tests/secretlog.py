"""Search everything the product logs for every secret it handles.

:class:`SecretLog` (fixture ``secret_log`` in tests/conftest.py) captures log records at the
lowest level - root logger and every existing logger at level 1, none disabled, all
propagating - formatted with their tracebacks (``exc_info``) and stack info, plus the raw
``repr(args)``; tests may add other output (a CLI's stderr) with :meth:`SecretLog.add_text`.

Secrets are collected by *harvesters* while the scenario runs (spies on the functions that
create or receive them: static keys, SCP03 session keys S-ENC/S-MAC/S-RMAC, PIN, PUK and
their blocks) or registered by the test (:meth:`SecretLog.secret`: master keys, the card's
private key, a passphrase).  :data:`HARVESTERS` is the one list to extend when a new kind
of secret appears (a CAN, API keys, ...): add a harvester there and every scenario that uses
the fixture covers it.

:meth:`SecretLog.assert_clean` fails when any secret appears in the captured text as hex
(either case), base64 (standard and URL-safe, with and without padding), ``repr(bytes)``,
or (digit strings: PIN, PUK) as a token of its own.  It also fails when the scenario logged
almost nothing or a required kind of secret was never seen, so it cannot pass vacuously.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = ["HARVESTERS", "SecretLog", "encodings"]

#: Shorter secrets (bytes) are not searched as encodings: too many false matches.
MIN_BYTES = 6


def encodings(value: bytes) -> set[str]:
    """Every textual form of ``value`` a careless log line would produce."""
    forms = {value.hex(), value.hex().upper(), repr(value), str(value)}
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        text = enc(value).decode()
        forms.update({text, text.rstrip("=")})
    return forms


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=1)
        self.texts: list[str] = []
        self.count = 0
        self.setFormatter(
            logging.Formatter("%(levelname)s %(name)s %(pathname)s:%(lineno)d %(message)s")
        )

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        try:
            self.texts.append(self.format(record))  # message + traceback + stack info
        except Exception as exc:  # a bad format string is itself worth seeing
            self.texts.append(f"unformattable record {record.msg!r}: {exc!r}")
        self.texts.append(repr(record.msg))
        self.texts.append(repr(record.args))


@dataclass
class SecretLog:
    """The secrets seen and the text captured during a scenario."""

    monkeypatch: pytest.MonkeyPatch
    secrets: dict[str, set[bytes | str]] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    _collector: _Collector = field(default_factory=_Collector)

    # -- secrets ----------------------------------------------------------------------

    def secret(self, kind: str, value: bytes | str | None) -> None:
        """Register one secret of ``kind`` (``None`` is ignored)."""
        if value is None:
            return
        if isinstance(value, bytearray | memoryview):
            value = bytes(value)
        self.secrets.setdefault(kind, set()).add(value)

    def kinds(self) -> set[str]:
        return set(self.secrets)

    def add_text(self, text: str) -> None:
        """Other output to search (a subprocess's stderr, an error body...)."""
        self.extra.append(text)

    @property
    def records(self) -> int:
        return self._collector.count

    # -- checking ---------------------------------------------------------------------

    def text(self) -> str:
        return "\n".join([*self._collector.texts, *self.extra])

    def leaks(self) -> list[str]:
        text = self.text()
        found: list[str] = []
        for kind, values in sorted(self.secrets.items()):
            for value in values:
                if isinstance(value, str):
                    if re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", text):
                        found.append(f"{kind} as text")
                    value = value.encode()
                if len(value) < MIN_BYTES:
                    continue
                for form in encodings(value):
                    if form in text:
                        found.append(f"{kind} as {form[:6]}...")
                        break
        return found

    def assert_clean(self, *, require: Iterable[str] = (), min_records: int = 10) -> None:
        """No secret in the captured text; at least ``min_records`` records were logged
        and every kind in ``require`` was seen by a harvester or registered."""
        assert self.records >= min_records, f"only {self.records} log records: not at debug?"
        missing = set(require) - self.kinds()
        assert not missing, f"secrets never seen (harvester broken?): {sorted(missing)}"
        leaks = self.leaks()
        assert not leaks, f"secrets in the logs: {leaks}"

    # -- capture ----------------------------------------------------------------------

    @contextmanager
    def capture(self) -> Iterator[SecretLog]:
        root = logging.getLogger()
        saved: list[tuple[logging.Logger, int, bool, bool]] = []
        for logger in [root, *logging.root.manager.loggerDict.values()]:
            if isinstance(logger, logging.Logger):
                saved.append((logger, logger.level, logger.disabled, logger.propagate))
                logger.disabled = False
                if logger is not root:
                    logger.propagate = True
                    logger.setLevel(logging.NOTSET)
        root.setLevel(1)
        previous_disable = logging.root.manager.disable
        logging.disable(logging.NOTSET)
        root.addHandler(self._collector)
        try:
            yield self
        finally:
            root.removeHandler(self._collector)
            logging.disable(previous_disable)
            for logger, level, disabled, propagate in saved:
                logger.setLevel(level)
                logger.disabled = disabled
                logger.propagate = propagate


# -- harvesters: spies that register secrets as the product creates or receives them ---------


def _wrap(
    log: SecretLog, target: str, seen: Callable[[SecretLog, tuple[Any, ...], Any], None]
) -> None:
    module, _, name = target.rpartition(".")
    obj: Any = __import__(module, fromlist=[name])
    original = getattr(obj, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        seen(log, args + tuple(kwargs.values()), result)
        return result

    log.monkeypatch.setattr(obj, name, spy)


def _static_keys(log: SecretLog) -> None:
    def seen(log: SecretLog, args: tuple[Any, ...], keys: Any) -> None:
        log.secret("static_enc", keys.enc)
        log.secret("static_mac", keys.mac)
        log.secret("static_dek", keys.dek)
        log.secret("master_key", args[0])

    for target in (
        "card_service.card.scp03.diversify_card_keys",
        "card_service.office.ephemeral.diversify_card_keys",
        "simulators.scp03.diversify",
        "simulators.card.diversify",
    ):
        _wrap(log, target, seen)
    from card_service.card import scp03

    original = scp03.StaticKeys.__post_init__

    def post_init(self: Any) -> None:
        original(self)
        log.secret("static_enc", self.enc)
        log.secret("static_mac", self.mac)
        log.secret("static_dek", self.dek)

    log.monkeypatch.setattr(scp03.StaticKeys, "__post_init__", post_init)


def _session_keys(log: SecretLog) -> None:
    from card_service.card import scp03

    original = scp03.SecureChannel.__init__

    def init(self: Any, protocol: Any, keys: Any, mcv: bytes) -> None:
        log.secret("s_enc", keys.enc)
        log.secret("s_mac", keys.mac)
        log.secret("s_rmac", keys.rmac)
        original(self, protocol, keys, mcv)

    log.monkeypatch.setattr(scp03.SecureChannel, "__init__", init)

    def card_side(log: SecretLog, args: tuple[Any, ...], hs: Any) -> None:
        log.secret("s_enc", hs.keys.enc)
        log.secret("s_mac", hs.keys.mac)
        log.secret("s_rmac", hs.keys.rmac)

    _wrap(log, "simulators.scp03.open_handshake", card_side)


def _pin_puk(log: SecretLog) -> None:
    def block(kind: str) -> Callable[[SecretLog, tuple[Any, ...], Any], None]:
        def seen(log: SecretLog, args: tuple[Any, ...], result: Any) -> None:
            log.secret(kind, args[0])
            log.secret(f"{kind}_block", result)

        return seen

    _wrap(log, "card_service.card.session.pin_block", block("pin"))
    _wrap(log, "card_service.card.session.puk_block", block("puk"))

    def digits(log: SecretLog, args: tuple[Any, ...], result: Any) -> None:
        log.secret("pin" if args[0] == 6 else "puk", result)

    _wrap(log, "card_service.workflows.issuance.random_digits", digits)
    # the new PIN letter of a resumed lock-pending issuance (issuance_common.new_pin_letter)
    _wrap(log, "card_service.workflows.issuance_common.random_digits", digits)


def _api_keys(log: SecretLog) -> None:
    """An API key as it is made (the whole key, and its secret part on its own)."""

    def seen(log: SecretLog, args: tuple[Any, ...], key: Any) -> None:
        log.secret("api_key", key)
        log.secret("api_key_secret", key.split("_", 3)[3])  # permit_pc_<hex>_<secret>

    _wrap(log, "card_service.clients.registry.new_key", seen)


#: Every kind of secret the product handles today.  A new one (CAN, ...) is one more entry
#: here; ``secret_log`` installs them all.
HARVESTERS: list[Callable[[SecretLog], None]] = [_static_keys, _session_keys, _pin_puk, _api_keys]


def card_secrets(log: SecretLog, card: Any) -> None:
    """A simulated card's own secrets: its keys, card private key, PIN and PUK blocks."""
    state = card._store.state
    for kind in ("k_enc", "k_mac", "k_dek", "card_key", "pin", "puk"):
        log.secret(f"card_{kind}", getattr(state, kind))
