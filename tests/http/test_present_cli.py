"""``permit present``: the terminal side on a simulated card issued through the office —
print the body of ``POST /v1/verifications``, or post it (the app's own client) with the
API key read from a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli import main
from api.cli import present as present_cli
from api.http import create_app
from card_service.office import EphemeralOffice, Presentation
from tests.dbfixtures import NOW
from tests.http.test_relying import BANK, BANK_KEY, _authenticate, _challenge, _issued


class _Borrowed:
    """The test's office, not closed by the command."""

    def __init__(self, office: EphemeralOffice) -> None:
        self.office = office

    def __enter__(self) -> EphemeralOffice:
        return self.office

    def __exit__(self, *exc: Any) -> None:
        return None


@pytest.fixture
def terminal(office: EphemeralOffice, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(present_cli, "open_office", lambda **_: _Borrowed(office))
    http = TestClient(create_app(office, authenticate=_authenticate, now=lambda: NOW))
    http.close = lambda: None  # type: ignore[method-assign]
    monkeypatch.setattr(present_cli, "http_client", lambda url: http)
    return http


def test_present_prints_the_body(
    office: EphemeralOffice, terminal: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    reader, _ = _issued(office)
    nonce = _challenge(terminal, BANK)["nonce"]
    code = main(["present", "--reader", reader, "--challenge", nonce, "--scope", "full_name"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err  # (it once exited 2 in a full run: say why, if again)
    body = json.loads(out)
    assert body["format"] == "permit-presentation/1" and body["nonce"] == nonce
    presentation = Presentation.from_json(body)
    assert len(presentation.card_signature) == 64
    # the printed body is what the service verifies
    answer = terminal.post("/v1/verifications", json=body, headers=BANK).json()
    assert answer["verdict"] == "VALID"
    assert "full_name" in answer["elements"] and "expiry_date" not in answer["elements"]


def test_present_posts_with_the_key_from_a_file(
    office: EphemeralOffice,
    terminal: TestClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reader, number = _issued(office)
    key_file = tmp_path / "api-key"
    key_file.write_text(BANK_KEY + "\n")
    argv = ["present", "--reader", reader, "--scope", "full_name,expiry_date"]
    code = main([*argv, "--url", "http://permit.test", "--key-file", str(key_file)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    answer = json.loads(captured.out)
    assert answer["verdict"] == "VALID" and answer["elements"]["permit_number"] == number
    assert BANK_KEY not in captured.out + captured.err

    # out of the client's scope: refused, one line, no key in it
    code = main([*argv, "--scope", "portrait", "--url", "http://x", "--key-file", str(key_file)])
    captured = capsys.readouterr()
    assert code == 1 and "presentation_out_of_scope" in captured.err
    assert BANK_KEY not in captured.err and "Traceback" not in captured.err


def test_present_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["present", "--reader", "R"]) == 2
    assert "--challenge" in capsys.readouterr().err
    assert main(["present", "--reader", "R", "--url", "http://x"]) == 2
    assert "--key-file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert main(["present", "--reader", "R", "--url", "http://x", "--key-file", str(empty)]) == 2


def test_present_selects_the_application_on_a_fresh_card_session(
    office: EphemeralOffice, terminal: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """A card the terminal meets fresh (put back in the reader, or reset by another
    process's connection over PC/SC) has no application selected: the terminal selects it."""
    reader, number = _issued(office)
    driver = office.station.driver
    card = driver.remove(0)  # type: ignore[attr-defined]
    driver.insert(0, card)  # type: ignore[attr-defined]
    nonce = _challenge(terminal, BANK)["nonce"]
    code = main(["present", "--reader", reader, "--challenge", nonce, "--scope", "full_name"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    answer = terminal.post("/v1/verifications", json=json.loads(captured.out), headers=BANK)
    assert answer.json()["verdict"] == "VALID"
    assert answer.json()["elements"]["permit_number"] == number


def test_a_nonce_that_begins_with_a_dash_is_a_nonce(
    office: EphemeralOffice, terminal: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """One nonce in 64 begins with "-": ``--challenge -x...`` is that nonce, not an option
    (argparse refused it with exit 2, which made this command and its tests fail at random)."""
    reader, _ = _issued(office)
    nonce = "-" + "Ab_-9" * 8 + "xy"
    assert len(nonce) == 43
    code = main(["present", "--reader", reader, "--challenge", nonce, "--scope", "full_name"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["nonce"] == nonce
    # a forgotten value is still argparse's own error, naming the option
    assert main(["present", "--reader", reader, "--challenge", "--scope", "full_name"]) == 2
    assert "--challenge" in capsys.readouterr().err
