"""docs/offline-verification.md's worked example, run as written: each ``console`` block's
commands against the real app under uvicorn (the simulator reader driver holds the cards),
each shown output line the beginning of a line of the real output, in order; between the
blocks the issuing office does what the text says (revoke, 25 hours pass)."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import main
from api.http import create_app
from card_service.office import EphemeralOffice, ephemeral_office
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.http.conftest import PKI, fake_authenticate, insert_blank
from tests.http.offline import Clock, bank_office, publish_trust, serve

DOC = Path(__file__).resolve().parents[2] / "docs" / "offline-verification.md"
BLOCK = re.compile(r"<!-- example: (\w+) -->\n```console\n(.*?)```", re.S)
SERVICE = "https://permits.example.gov.cn"
TRUST_DIR = "./permit-trust"
EXIT = {"VALID": 0, "REVOKED": 1, "STATUS_UNKNOWN": 3}


def examples() -> dict[str, list[tuple[str, list[str]]]]:
    """name -> [(command, expected output lines)]"""
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for name, body in BLOCK.findall(DOC.read_text()):
        steps: list[tuple[str, list[str]]] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                assert steps, f"output before any command in example {name}"
                steps[-1][1].append(line)
        found[name] = steps
    return found


def test_the_doc_has_the_three_examples() -> None:
    assert list(examples()) == ["valid", "revoked", "stale"]


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[EphemeralOffice]:
    with ephemeral_office(NOW, pki=PKI) as made:
        publish_trust(made, monkeypatch)
        yield made


def run_block(
    steps: list[tuple[str, list[str]]],
    url: str,
    trust: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command, expected in steps:
        argv = shlex.split(command.replace(SERVICE, url).replace(TRUST_DIR, str(trust)))
        assert argv[0] == "permit"
        code = main(argv[1:])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        actual = captured.out.replace(str(trust), TRUST_DIR).splitlines()
        at = 0
        for want in expected:
            while at < len(actual) and not actual[at].startswith(want):
                at += 1
            assert at < len(actual), (command, want, captured.out, captured.err)
            at += 1
        if argv[1] == "verify":
            assert code == EXIT[expected[0]], (command, captured.out)
        else:
            assert code == 0, captured.err


def test_the_documented_example_runs(
    issuer: EphemeralOffice,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = Clock(NOW + dt.timedelta(minutes=1))
    numbers = []
    for slot, seed in ((0, 51), (1, 52)):
        reader = insert_blank(issuer, slot)
        numbers.append(issuer.issue(synthetic_application(NOW, seed=seed), reader, NOW))
    bank_office(monkeypatch, tmp_path / "bank", issuer, clock)
    trust = tmp_path / "permit-trust"
    blocks = examples()
    app = create_app(issuer, authenticate=fake_authenticate, now=clock)
    with serve(app) as url:
        run_block(blocks["valid"], url, trust, capsys)

        issuer.revoke(numbers[0].permit_number, "stolen", clock())
        clock.advance(dt.timedelta(seconds=31))  # the service's list is rebuilt
        run_block(blocks["revoked"], url, trust, capsys)

        clock.advance(dt.timedelta(hours=25))  # no fetch since: the list expired
        run_block(blocks["stale"], url, trust, capsys)
    assert not (tmp_path / "bank").exists()  # no key store, no register on the bank side
