"""Blank simulated cards get their key sets from the issuer key store when it exists.

The master key never leaves the store: the store derives each card's keys, the fleet loads
them into the blank card, and the host opens the issuer channel with the same store through
``KeyManager.scp03_key_provider()``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from api.cli.common import CliError
from api.cli.sim import _card_key_loader
from card_service.card.errors import SecureChannelError
from card_service.card.session import PermitCardSession
from card_service.card.wire import LifeCycle
from keys import KeyManager
from reader_drivers.sim import SimReaderDriver
from simulators.fleet import SimFleet

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path))
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", "a long test passphrase 7f3c")
    monkeypatch.delenv("PERMIT_KEY_STORE", raising=False)
    return tmp_path


def _personalise(fleet: SimFleet, provider: object) -> PermitCardSession:
    driver = SimReaderDriver(slots=1)
    session = PermitCardSession(driver.connect(driver.insert(0, fleet.cards[0])))
    session.select()
    session.open_issuer_channel(provider)  # type: ignore[arg-type]
    return session


def test_issuer_store_keys_open_the_channel(home: Path) -> None:
    manager = KeyManager()
    manager.init(NOW)
    fleet = SimFleet(home / "sim", _card_key_loader("auto", home / "sim" / "dev.json"))
    fleet.cards = fleet._load_cards()
    assert not (home / "sim" / "dev.json").exists(), "auto must use the issuer store"

    session = _personalise(fleet, KeyManager().scp03_key_provider())
    session.begin_personalisation()
    assert session.read_card_info().life_cycle is LifeCycle.PERSONALISING


def test_dev_keys_do_not_open_with_the_issuer_store(home: Path) -> None:
    KeyManager().init(NOW)
    fleet = SimFleet(home / "sim", _card_key_loader("dev", home / "sim" / "dev.json"))
    fleet.cards = fleet._load_cards()
    assert (home / "sim" / "dev.json").stat().st_mode & 0o777 == 0o600

    with pytest.raises(SecureChannelError):
        _personalise(fleet, KeyManager().scp03_key_provider())
    assert fleet.cards[0].life_cycle is LifeCycle.BLANK


def test_issuer_mode_without_keys_is_a_clear_error(home: Path) -> None:
    with pytest.raises(CliError, match="permit keys init"):
        _card_key_loader("issuer", home / "sim" / "dev.json")


# --- bad key settings and development key files (security review: CLI fuzzing) --------------

DEV_KEY = "00112233445566778899aabbccddeeff"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"{}", "must be a JSON object"),
        (b'{"1": 7}', "KVN 1 must be 32 hex digits"),
        (b'{"1": "00112233"}', "KVN 1 must be 32 hex digits"),
        (b'{"1": "' + b"zz" * 16 + b'"}', "KVN 1 must be 32 hex digits"),
        (b'{"1": "' + DEV_KEY.encode() + b'00"}', "KVN 1 must be 32 hex digits"),
        (b'{"x": "' + DEV_KEY.encode() + b'"}', "key versions must be 1-127"),
        (b'{"0": "' + DEV_KEY.encode() + b'"}', "key versions must be 1-127"),
        (b'{"128": "' + DEV_KEY.encode() + b'"}', "key versions must be 1-127"),
        (b'{"1": "' + DEV_KEY.encode() + b'", "01": "' + DEV_KEY.encode() + b'"}', "twice"),
    ],
    ids=[
        "empty", "deep", "not-utf8", "list", "no-keys", "not-str", "short", "not-hex", "long",
        "kvn-name", "kvn-0", "kvn-128", "kvn-twice",
    ],
)  # fmt: skip
def test_bad_dev_master_key_file_is_a_cli_error(home: Path, content: bytes, expected: str) -> None:
    dev = home / "sim" / "dev.json"
    dev.parent.mkdir(parents=True)
    dev.write_bytes(content)
    with pytest.raises(CliError, match=expected) as info:
        _card_key_loader("dev", dev)
    text = str(info.value)
    assert "\n" not in text and str(dev) in text
    assert DEV_KEY not in text and "zzzz" not in text


def test_good_dev_master_key_file(home: Path) -> None:
    dev = home / "sim" / "dev.json"
    dev.parent.mkdir(parents=True)
    dev.write_text(f'{{"1": "{DEV_KEY}", "2": "{DEV_KEY.upper()}"}}')
    kvn, enc, mac, dek = _card_key_loader("dev", dev)(bytes(8))
    assert kvn == 2 and len(enc) == len(mac) == len(dek) == 16


def test_unreadable_dev_master_key_file(home: Path) -> None:
    dev = home / "sim" / "dev.json"
    dev.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(CliError, match="cannot use the development master key file"):
        _card_key_loader("dev", dev)


def test_bad_key_store_setting_is_a_cli_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERMIT_KEY_STORE", "floppy")
    with pytest.raises(CliError, match="PERMIT_KEY_STORE"):
        _card_key_loader("auto", home / "sim" / "dev.json")


def test_sim_start_with_bad_dev_keys_exits_1(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through ``main``: one line on stderr, exit 1, no traceback (nothing is started)."""
    from api.cli import main
    from simulators.fleet import MASTER_KEYS_FILE

    (home / "sim").mkdir()
    (home / "sim" / MASTER_KEYS_FILE).write_text('{"1": "not hex"}')
    assert main(["sim", "start", "--card-keys", "dev", "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("permit: ") and err.count("\n") == 1 and "Traceback" not in err
