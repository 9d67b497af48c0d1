"""Issue 9 section 5 (parse strictly what comes from outside): the cases no other test had.

Already guarded elsewhere (and not repeated here): COSE protected/unprotected header rules
and unknown tags, non-shortest heads, digests over the received tag-24 bytes, indefinite
lengths, a duplicate top-level record key (tests/record/test_record_strict.py,
test_record_tamper.py); deep JSON, non-UTF-8, ``/dev/zero``, ``--now``/``--effective`` in
year 1 and 9999, duplicate keys in an application file (tests/record/test_record_cli_inputs.py);
control characters in an application's fields (tests/record/test_record_application_fields.py).

New here:

* duplicate map keys *inside* a correctly signed item and inside the signed MSO;
* a FIFO given as the application, record or endorsements file (must not hang);
* the trust directory a relying party is given (``--trust DIR``): a FIFO or ``/dev/zero``
  in place of its files was a hang and an unbounded read (now ``keys.fsutil.read_regular_file``);
* the register's own submission of a name the record cannot sign (refused: InvalidInput).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import cbor2
import pytest

from api.cli import main
from card_service.record import Verdict
from card_service.register.views import ApplicantData
from card_service.workflows.application import synthetic_application
from tests.dbfixtures import NOW
from tests.record.conftest import NOW as SIGNED_NOW
from tests.record.test_record_strict import World, build, mso_of, parts, sw
from tests.workflows.conftest import World as Station
from tests.workflows.conftest import make_world

__all__ = ["sw"]  # the record harness's module fixture, used below

ROOT = Path(__file__).resolve().parents[2]


# -- CBOR: duplicate keys below the top level ---------------------------------------------


def _with_duplicate(value: dict[Any, Any], key: Any, other: Any) -> bytes:
    """``value`` in deterministic order with ``key`` repeated (first ``other``, then the real
    value): "last one wins" would decode to the genuine item."""
    pairs = [(k, v) for k, v in value.items()]
    body = b""
    for k, v in pairs:
        if k == key:
            body += cbor2.dumps(k) + cbor2.dumps(other)
        body += cbor2.dumps(k) + cbor2.dumps(v)
    head = cbor2.dumps({i: 0 for i in range(len(pairs) + 1)})[:1]  # map head, n + 1 pairs
    return head + body


def test_a_signed_item_with_a_duplicate_key_is_malformed(sw: World) -> None:
    items, _ = parts(sw.record)
    value = cbor2.loads(items[1])
    assert sw.verifier().verify(build(sw, items=items), now=SIGNED_NOW).verdict is Verdict.VALID
    items[1] = _with_duplicate(value, "elementValue", "forged")
    result = sw.verifier().verify(build(sw, items=items), now=SIGNED_NOW)
    assert result.verdict is Verdict.MALFORMED, result.reasons
    assert not result.elements


def test_a_signed_mso_with_a_duplicate_key_is_malformed(sw: World) -> None:
    mso = mso_of(sw.record)
    ordered = cbor2.loads(cbor2.dumps(mso, canonical=True))
    inner = _with_duplicate(ordered, "docType", "org.example.other")
    result = sw.verifier().verify(build(sw, mso=mso, mso_inner=inner), now=SIGNED_NOW)
    assert result.verdict is Verdict.MALFORMED, result.reasons


# -- CLI: a FIFO as input -------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("PERMIT_KEY", "PERMIT_PKCS11", "PERMIT_DATABASE")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PERMIT_DATABASE_URL", f"sqlite:///{tmp_path / 'register.db'}")
    return tmp_path


def _one_line_failure(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code != 0, (argv, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("permit: "), err
    return lines[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["application", "record", "endorsements"])
def test_a_fifo_input_is_refused_without_waiting(
    cli_env: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody writes to the FIFO: a plain open() would wait for ever."""
    fifo = cli_env / "input.fifo"
    os.mkfifo(fifo)
    trust = _trust_dir_case(cli_env, "none")  # read before the record
    record = cli_env / "r.cbor"
    record.write_bytes(b"\xa0")
    argv = {
        "application": ["issue", "--reader", "none", str(fifo)],
        "record": ["record", "verify", str(fifo), "--trust", str(trust)],
        "endorsements": [
            "record", "verify", str(record), "--endorsements", str(fifo), "--trust", str(trust)
        ],
    }[where]  # fmt: skip
    line = _one_line_failure(argv, capsys)
    assert "not a regular file" in line
    assert not (cli_env / "register.db").exists()


# -- CLI: the trust directory ------------------------------------------------------------------


def _limit_memory() -> None:  # runs in the child: an unbounded read fails fast, not the host
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def _trust_dir_case(tmp_path: Path, case: str) -> Path:
    """A trust directory as export-trust writes it, then one file replaced per ``case``."""
    from card_service.record.ephemeral_pki import EphemeralPki

    trust = tmp_path / "trust"
    trust.mkdir()
    pki = EphemeralPki.create(NOW - dt.timedelta(days=30))
    from cryptography.hazmat.primitives import serialization

    root = pki.trust(NOW).roots[0].public_bytes(serialization.Encoding.PEM)
    (trust / "root.pem").write_bytes(root)
    manifest = {"roots": [{"file": "root.pem"}], "signers": []}
    (trust / "manifest.json").write_text(json.dumps(manifest))
    if case == "manifest_fifo":
        (trust / "manifest.json").unlink()
        os.mkfifo(trust / "manifest.json")
    elif case == "manifest_dev_zero":
        (trust / "manifest.json").unlink()
        (trust / "manifest.json").symlink_to("/dev/zero")
    elif case == "root_fifo":
        (trust / "root.pem").unlink()
        os.mkfifo(trust / "root.pem")
    elif case == "root_symlink":  # a link to a file outside the directory is not followed
        (tmp_path / "elsewhere.pem").write_bytes(root)
        (trust / "root.pem").unlink()
        (trust / "root.pem").symlink_to(tmp_path / "elsewhere.pem")
    elif case == "root_huge":  # a regular file far larger than any certificate
        with (trust / "root.pem").open("ab") as f:
            f.truncate(64 * 1024 * 1024)
    return trust


@pytest.mark.parametrize(
    "case", ["manifest_fifo", "manifest_dev_zero", "root_fifo", "root_symlink", "root_huge"]
)
def test_a_hostile_trust_directory_is_one_line_not_a_hang(tmp_path: Path, case: str) -> None:
    trust = _trust_dir_case(tmp_path, case)
    record = tmp_path / "r.cbor"
    record.write_bytes(b"\xa0")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERMIT_KEY", "PERMIT_DATA"))}
    env.update(PYTHONPATH=str(ROOT), PERMIT_HOME=str(tmp_path / "home"))
    try:
        done = subprocess.run(  # our own interpreter and CLI
            [sys.executable, "-m", "api.cli", "record", "verify", str(record), "--trust",
             str(trust)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=15,
            preexec_fn=_limit_memory,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"permit record verify --trust hangs on {case}")
    assert done.returncode not in (0, None)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-400:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("permit: "), done.stderr[-400:]
    # named as a bad trust directory; "internal error (MemoryError)" is the unbounded read
    # hitting the child's 2 GiB limit (without one it takes all the machine's memory)
    assert "internal error" not in lines[0] and "trust director" in lines[0], lines[0]


def test_a_regular_trust_directory_still_loads(tmp_path: Path) -> None:
    """The control for the case above: the same directory, unmodified, is read."""
    from keys.trust import load_trust_dir

    trust = load_trust_dir(_trust_dir_case(tmp_path, "none"))
    assert len(trust.roots) == 1


# -- the register's submission ------------------------------------------------------------------


@pytest.fixture
def station(tmp_path: Path) -> Any:
    w = make_world(f"sqlite:///{tmp_path / 'register.db'}")
    yield w
    w.close()


@pytest.mark.parametrize("name", ["张\x1b[31m伟", "张伟\u202e", "张\x00伟", "张\u200b伟"])
def test_the_register_does_not_approve_a_name_the_record_cannot_sign(
    station: Station, name: str
) -> None:
    app = synthetic_application(NOW, seed=11)
    person = app.applicant_data()
    bad = ApplicantData(person.id_number, name, person.birth_date)
    from sqlalchemy import func, select

    from card_service.register.errors import InvalidInput
    from card_service.register.models import Applicant, Application

    def rows() -> tuple[int, int]:
        with station.register.engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (Applicant, Application)
            )

    before = rows()
    with pytest.raises(InvalidInput) as refused:
        station.register.submit_application(bad, app.application_data(), "officer", NOW)
    assert refused.value.code == "invalid_input"
    assert "applicant.name" in str(refused.value) and name not in str(refused.value)
    assert rows() == before  # refused before anything was stored
