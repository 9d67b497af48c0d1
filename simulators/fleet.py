"""A fleet of simulated cards plugged into vpcd readers, with a control socket.

Layout under the fleet directory (``$PERMIT_HOME/sim``)::

    cards/<serial-hex>.card     card images (EEPROM), reused across restarts
    issuer-master-keys.json     the card manufacturer's copy of the issuer master keys
    reader.conf                 pcscd reader.conf entries the fleet needs (vpcd)
    control.sock                JSON-lines control socket while the fleet runs

Card ``i`` connects to the vpcd port ``base_port + i``.  One vpcd reader.conf
entry with ``CHANNELID P`` serves two readers (ports P and P+1), so N cards
need ``ceil(N / 2)`` entries with CHANNELIDs base_port, base_port+2, ...;
Debian's stock ``/etc/reader.conf.d/vpcd`` (port 35963) covers two cards.
:func:`~simulators.pcscd_private.reader_conf` writes them.

Control protocol: one JSON object per line in, one per line out::

    {"cmd": "list"}                                 -> {"ok": true, "cards": [...]}
    {"cmd": "insert", "card": 0}                    -> {"ok": true, "card": {...}}
    {"cmd": "remove", "card": 0}
    {"cmd": "tear", "card": 0, "after": 3, "phase": "mid"}   power cut during the 3rd APDU from now
    {"cmd": "timing", "preset": "contact"[, "card": 0]}
    errors: {"ok": false, "error": "..."}
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from card_service.card.wire import KEY_LENGTH, VPCD_DEFAULT_PORT

from .card import SimulatedCard
from .control import FleetError, control_request
from .pcscd_private import reader_conf
from .scp03 import diversify
from .timing import TimingModel
from .vpcd import VpcdBridge

__all__ = [
    "CardKeyLoader",
    "FleetError",
    "SimFleet",
    "control_request",
    "load_or_create_master_keys",
    "master_key_loader",
    "parse_master_keys",
]

logger = logging.getLogger(__name__)

MASTER_KEYS_FILE = "issuer-master-keys.json"


def _private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700 each (``mkdir``'s ``mode``
    is filtered by the umask and never applies to parents); refuse a non-directory."""
    missing = []
    current = path
    while not os.path.lexists(current) and current.parent != current:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)
    if not path.is_dir() or path.is_symlink():
        raise FleetError(f"{path} is not a directory")


def _write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600, never writing through a link at ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # replaces a planted link itself, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


TEAR_PHASES = ("before", "mid", "after")
TIMING_PRESETS = ("none", "contact", "contactless")


def load_or_create_master_keys(path: Path) -> dict[int, bytes]:
    """Load ``{"kvn": hex}`` issuer master keys; create one random key (KVN 1) if absent.

    This file is the *card manufacturer's* copy of the issuer master key: the
    simulated factory needs it to load key sets into blank cards.  It is created
    with mode 0600 and must never be committed.
    """
    if not path.exists():
        _private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"1": os.urandom(16).hex()}, f)
            f.write("\n")
        logger.info("generated issuer master key (KVN 1) at %s", path)
    return parse_master_keys(path.read_bytes(), str(path))


_MASTER_KEY_HEX_DIGITS = 2 * KEY_LENGTH


def parse_master_keys(raw: bytes, name: str = MASTER_KEYS_FILE) -> dict[int, bytes]:
    """Validate and decode a ``{"<kvn>": "<32 hex digits>"}`` master key file.

    Raises ValueError with a one-line message naming the file and the KVN at fault, never
    the key bytes.
    """
    expected = f'a JSON object {{"<kvn 1-127>": "<{_MASTER_KEY_HEX_DIGITS} hex digits>"}}'
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise ValueError(f"master key file {name} is not valid JSON: expected {expected}") from None
    if not isinstance(doc, dict) or not doc:
        raise ValueError(f"master key file {name} must be {expected}")
    keys: dict[int, bytes] = {}
    for kvn_text, key_hex in doc.items():
        kvn = int(kvn_text) if kvn_text.isascii() and kvn_text.isdigit() else 0
        if not 1 <= kvn <= 0x7F or len(kvn_text) > 3:
            raise ValueError(f"master key file {name}: key versions must be 1-127")
        try:
            if not isinstance(key_hex, str) or len(key_hex) != _MASTER_KEY_HEX_DIGITS:
                raise ValueError
            key = bytes.fromhex(key_hex)
        except ValueError:
            raise ValueError(
                f"master key file {name}: the key of KVN {kvn} must be "
                f"{_MASTER_KEY_HEX_DIGITS} hex digits (AES-128)"
            ) from None
        if kvn in keys:
            raise ValueError(f"master key file {name}: KVN {kvn} appears twice")
        keys[kvn] = key
    return keys


#: Supplies the key set of a new blank card from its serial: (kvn, K-ENC, K-MAC, K-DEK).
CardKeyLoader = Callable[[bytes], tuple[int, bytes, bytes, bytes]]


def master_key_loader(master_keys: Mapping[int, bytes], kvn: int | None = None) -> CardKeyLoader:
    """A loader diversifying from raw master keys (the simulator's own development keys)."""
    version = kvn if kvn is not None else max(master_keys)
    master = bytes(master_keys[version])

    def load(serial: bytes) -> tuple[int, bytes, bytes, bytes]:
        keys = diversify(master, serial, version)
        return version, keys.enc, keys.mac, keys.dek

    return load


class SimFleet:
    """``n_cards`` simulated cards, card ``i`` bridged to vpcd at ``host:base_port+i``."""

    def __init__(
        self,
        directory: Path,
        master_keys: Mapping[int, bytes] | CardKeyLoader,
        n_cards: int = 1,
        host: str = "127.0.0.1",
        base_port: int = VPCD_DEFAULT_PORT,
        timing: TimingModel | None = None,
        *,
        kvn: int | None = None,
    ) -> None:
        if n_cards < 1:
            raise ValueError("a fleet needs at least one card")
        self.directory = Path(directory)
        self.cards_dir = self.directory / "cards"
        # Either raw master keys (development) or a loader backed by the issuer's key store.
        self.key_loader: CardKeyLoader = (
            master_keys if callable(master_keys) else master_key_loader(master_keys, kvn)
        )
        self.n_cards = n_cards
        self.host = host
        self.base_port = base_port
        self.timing = timing
        self.cards: list[SimulatedCard] = []
        self.bridges: list[VpcdBridge] = []
        self._server: socket.socket | None = None
        self._server_thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def control_path(self) -> Path:
        return self.directory / "control.sock"

    @property
    def reader_conf_path(self) -> Path:
        return self.directory / "reader.conf"

    # -- lifecycle ---------------------------------------------------------------

    def _load_cards(self) -> list[SimulatedCard]:
        _private_dir(self.cards_dir)
        images = sorted(self.cards_dir.glob("*.card"), key=lambda p: (p.stat().st_mtime, p.name))
        cards = []
        for path in images[: self.n_cards]:
            cards.append(SimulatedCard.load(path, timing=self.timing))
            logger.info("loaded card %s", path.name)
        while len(cards) < self.n_cards:
            serial = os.urandom(8)
            path = self.cards_dir / f"{serial.hex()}.card"
            kvn, k_enc, k_mac, k_dek = self.key_loader(serial)
            card = SimulatedCard.manufacture_with_keys(
                kvn=kvn,
                k_enc=k_enc,
                k_mac=k_mac,
                k_dek=k_dek,
                serial=serial,
                image_path=path,
                timing=self.timing,
            )
            logger.info("manufactured blank card %s", path.name)
            cards.append(card)
        return cards

    def start(self) -> SimFleet:
        _private_dir(self.directory)
        _write_private_text(
            self.reader_conf_path,
            "# vpcd readers for `permit sim start --cards "
            f"{self.n_cards}`; install into /etc/reader.conf.d/ and restart pcscd\n"
            + reader_conf("Virtual PCD", self.base_port, self.n_cards),
        )
        self.cards = self._load_cards()
        self.bridges = [
            VpcdBridge(card, self.host, self.base_port + i).start()
            for i, card in enumerate(self.cards)
        ]
        self._start_control()
        return self

    def stop(self) -> None:
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        try:
            self.control_path.unlink()
        except FileNotFoundError:
            pass
        for bridge in self.bridges:
            bridge.stop()
        for card in self.cards:
            close = getattr(card, "close", None)
            if callable(close):
                close()

    # -- operations --------------------------------------------------------------

    def _index(self, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise FleetError("'card' must be a card number")
        if not 0 <= value < len(self.cards):
            raise FleetError(f"no card {value} (cards are 0..{len(self.cards) - 1})")
        return value

    def describe(self, i: int) -> dict[str, Any]:
        card, bridge = self.cards[i], self.bridges[i]
        lcs = card.life_cycle
        return {
            "card": i,
            "serial": bytes(card.serial).hex(),
            "life_cycle": getattr(lcs, "name", str(lcs)),
            "inserted": bridge.inserted,
            "connected": bridge.connected,
            "port": bridge.port,
            "image": str(card.image_path) if card.image_path else None,
            "tear_armed": bool(card.faults.armed),
        }

    def insert(self, i: int) -> None:
        self.bridges[self._index(i)].insert()

    def remove(self, i: int) -> None:
        self.bridges[self._index(i)].remove()

    def tear(self, i: int, after: int, phase: str = "mid") -> None:
        i = self._index(i)
        if not isinstance(after, int) or isinstance(after, bool) or after < 1:
            raise FleetError("'after' must be a number of APDUs >= 1")
        if phase not in TEAR_PHASES:
            raise FleetError(f"'phase' must be one of {', '.join(TEAR_PHASES)}")
        try:
            self.cards[i].faults.cut_power(after_apdus=after, phase=phase)
        except ValueError as exc:
            raise FleetError(str(exc)) from None

    def set_timing(self, preset: str, card: int | None = None) -> None:
        if preset not in TIMING_PRESETS:
            raise FleetError(f"'preset' must be one of {', '.join(TIMING_PRESETS)}")
        model = TimingModel.preset(preset)
        targets = range(len(self.cards)) if card is None else [self._index(card)]
        for i in targets:
            self.cards[i].timing = model

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Execute one control request; errors come back as ``{"ok": false}``."""
        try:
            cmd = request.get("cmd")
            if cmd == "list":
                return {"ok": True, "cards": [self.describe(i) for i in range(len(self.cards))]}
            if cmd == "insert":
                self.insert(request.get("card"))  # type: ignore[arg-type]
            elif cmd == "remove":
                self.remove(request.get("card"))  # type: ignore[arg-type]
            elif cmd == "tear":
                self.tear(
                    request.get("card"),  # type: ignore[arg-type]
                    request.get("after"),  # type: ignore[arg-type]
                    str(request.get("phase", "mid")),
                )
            elif cmd == "timing":
                self.set_timing(str(request.get("preset")), request.get("card"))
            else:
                raise FleetError(f"unknown command {cmd!r}")
            if "card" in request and request["card"] is not None:
                return {"ok": True, "card": self.describe(self._index(request["card"]))}
            return {"ok": True}
        except FleetError as exc:
            return {"ok": False, "error": str(exc)}

    # -- control socket ----------------------------------------------------------

    def _start_control(self) -> None:
        path = self.control_path
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)
        try:
            server.bind(str(path))
        finally:
            os.umask(old)
        server.listen(8)
        self._server = server
        self._server_thread = threading.Thread(
            target=self._accept_loop, args=(server,), name="sim-control", daemon=True
        )
        self._server_thread.start()

    def _accept_loop(self, server: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            for line in f:
                try:
                    request = json.loads(line)
                    if not isinstance(request, dict):
                        raise ValueError("request must be a JSON object")
                    reply = self.handle(request)
                except ValueError as exc:
                    reply = {"ok": False, "error": f"bad request: {exc}"}
                except Exception as exc:  # never let a client kill the server
                    logger.exception("control request failed")
                    reply = {"ok": False, "error": f"internal error: {exc}"}
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()
