"""``permit sim ...``: run the card simulator fleet and control it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from card_service.card.wire import VPCD_DEFAULT_PORT
from card_service.office import Office, Settings
from card_service.office.errors import PermitError

from .common import CliError, open_office, print_json

if TYPE_CHECKING:
    from simulators.fleet import CardKeyLoader


def _settings() -> Settings:
    return Settings.from_env(os.environ)


def sim_dir() -> Path:
    return _settings().data_dir() / "sim"


def _nonneg(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {n}")
    return n


def _positive(value: str) -> int:
    n = _nonneg(value)
    if n == 0:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


def _port(value: str) -> int:
    n = _positive(value)
    if n > 65534:
        raise argparse.ArgumentTypeError(f"not a TCP port: {n}")
    return n


def _development_only(
    func: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Every ``permit sim`` command is refused when ``PERMIT_ENV=production``: a simulated
    card keeps its keys, PIN and PUK in clear in its image (docs/simulator.md)."""

    def run(args: argparse.Namespace) -> int:
        _settings().require_simulator("`permit sim`")
        return func(args)

    return run


def register(sub: Any) -> None:
    p = sub.add_parser("sim", help="card simulator (development and tests only)")
    ssub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)

    s = ssub.add_parser("start", help="run simulated cards in vpcd readers (foreground)")
    s.add_argument("--cards", type=_positive, default=1, help="number of cards (default 1)")
    s.add_argument("--host", default="127.0.0.1", help="vpcd host (default 127.0.0.1)")
    s.add_argument(
        "--port",
        type=_port,
        default=VPCD_DEFAULT_PORT,
        help=f"first vpcd port ({VPCD_DEFAULT_PORT})",
    )
    s.add_argument("--timing", choices=["none", "contact", "contactless"], default="none")
    s.add_argument(
        "--card-keys",
        choices=["auto", "issuer", "dev"],
        default="auto",
        help="key sets of new blank cards: from the issuer key store (issuer), from the "
        "simulator's own development master key (dev), or issuer when `permit keys init` "
        "has been run and dev otherwise (auto, the default)",
    )
    s.set_defaults(func=_development_only(cmd_start))

    for name, helptext in (("insert", "insert card N"), ("remove", "remove card N")):
        c = ssub.add_parser(name, help=helptext)
        c.add_argument("card", type=_nonneg, metavar="N")
        c.set_defaults(func=_development_only(cmd_control), control=name)

    t = ssub.add_parser(
        "tear", help="cut card N's power during the K-th APDU from now (1 = the next one)"
    )
    t.add_argument("card", type=_nonneg, metavar="N")
    t.add_argument("--after", type=_positive, required=True, metavar="K")
    t.add_argument("--phase", choices=["before", "mid", "after"], default="mid")
    t.set_defaults(func=_development_only(cmd_control), control="tear")

    ls = ssub.add_parser("list", help="list the simulated cards")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_development_only(cmd_list))


def _card_key_loader(mode: str, dev_keys_file: Path) -> CardKeyLoader:
    """Where new blank cards get their key sets (existing card images keep theirs).

    With the issuer key store, the master key never leaves the store: the store derives
    each card's keys (spec 6.1), as an issuer's HSM does for a card manufacturer.
    Every expected failure (key settings, an unreadable or malformed development key
    file) is a one-line :class:`CliError`.
    """
    office: Office = open_office()
    try:
        initialised = office.keys_initialised()
    except PermitError as exc:
        raise CliError(f"issuer key store: {exc}") from None
    except OSError as exc:
        raise CliError(f"issuer key store: {exc.strerror or 'I/O error'}") from None
    if mode == "issuer" or (mode == "auto" and initialised):
        if not initialised:
            raise CliError("the issuer keys are not initialised (run `permit keys init`)")

        def load(serial: bytes) -> tuple[int, bytes, bytes, bytes]:
            try:
                keys = office.card_keys(serial)
            except PermitError as exc:
                raise CliError(f"cannot derive card keys: {exc}") from None
            return keys.kvn, keys.enc, keys.mac, keys.dek

        return load
    return _dev_key_loader(dev_keys_file)


def _dev_key_loader(path: Path) -> CardKeyLoader:
    """The simulator's development master keys (created on first use), validated."""
    from simulators.fleet import load_or_create_master_keys, master_key_loader

    try:
        return master_key_loader(load_or_create_master_keys(path))
    except OSError as exc:
        raise CliError(
            f"cannot use the development master key file {path}: {exc.strerror or 'I/O error'}"
        ) from None
    except ValueError as exc:  # parse_master_keys: one line, names no key bytes
        raise CliError(str(exc)) from None


def cmd_start(args: argparse.Namespace) -> int:
    from simulators.fleet import MASTER_KEYS_FILE, SimFleet
    from simulators.timing import TimingModel

    directory = sim_dir()
    control = directory / "control.sock"
    if control.exists() and _alive(control):
        raise CliError(f"a simulator is already running (control socket at {control})")
    fleet = SimFleet(
        directory,
        _card_key_loader(args.card_keys, directory / MASTER_KEYS_FILE),
        n_cards=args.cards,
        host=args.host,
        base_port=args.port,
        timing=TimingModel.preset(args.timing),
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        fleet.start()
    except Exception as exc:
        fleet.stop()
        raise CliError(f"cannot start the simulator: {exc}") from None
    try:
        for i in range(len(fleet.cards)):
            d = fleet.describe(i)
            print(
                f"card {i}: serial {d['serial']} {d['life_cycle']} -> vpcd {args.host}:{d['port']}"
            )
        print(f"simulator running; control socket {fleet.control_path}; Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        fleet.stop()
    print("simulator stopped", file=sys.stderr)
    return 0


def _alive(control: Path) -> bool:
    from simulators.control import control_request

    try:
        control_request(control, {"cmd": "list"}, timeout=1.0)
    except OSError:
        return False
    return True


def _request(request: dict[str, Any]) -> dict[str, Any]:
    from simulators.control import FleetError, control_request

    control = sim_dir() / "control.sock"
    if not control.exists():
        raise CliError(f"simulator not running (no control socket at {control})")
    try:
        reply = control_request(control, request)
    except (OSError, FleetError, ValueError) as exc:
        raise CliError(f"simulator not reachable at {control}: {exc}") from None
    if not reply.get("ok"):
        raise CliError(str(reply.get("error", "request failed")))
    return reply


def cmd_control(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"cmd": args.control, "card": args.card}
    if args.control == "tear":
        request.update(after=args.after, phase=args.phase)
    reply = _request(request)
    card = reply.get("card", {})
    if args.control == "tear":
        print(f"card {args.card}: power cut armed for APDU #{args.after} from now ({args.phase})")
    else:
        print(f"card {args.card}: {'inserted' if card.get('inserted') else 'removed'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    cards = _request({"cmd": "list"})["cards"]
    if args.json:
        print_json(cards)
        return 0
    for c in cards:
        state = "inserted" if c["inserted"] else "removed"
        print(f"card {c['card']}: serial {c['serial']} {c['life_cycle']} {state} port {c['port']}")
    return 0
