"""The workflow subcommands parse as documented (the lead wires them into ``permit``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from api.cli import workflows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="permit")
    sub = parser.add_subparsers(dest="command", required=True)
    workflows.register(sub)
    return parser


@pytest.mark.parametrize(
    ("argv", "func"),
    [
        (["issue", "--reader", "R0", "app.json"], workflows.run_issue),
        (["verify", "--reader", "R0", "--json"], workflows.run_verify),
        (["endorse", "--reader", "R0"], workflows.run_endorse),
        (["revoke", "3301062026000001X", "--reason", "lost"], workflows.run_revoke),
        (
            ["replace", "N1", "--reason", "damaged", "--reader", "R0", "app.json"],
            workflows.run_replace,
        ),
        (["terminate", "--reader", "R0"], workflows.run_terminate),
        (["reconcile", "--older-than", "600"], workflows.run_reconcile),
    ],
)
def test_subcommands_parse(argv: list[str], func: object) -> None:
    args = _parser().parse_args(argv)
    assert args.func is func


def test_revoke_reason_is_checked() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["revoke", "N1", "--reason", "bored"])


def test_bad_application_file_is_a_clean_error(tmp_path: Path) -> None:
    from card_service.workflows import ApplicationError, load_application

    path = tmp_path / "a.json"
    path.write_text('{"format": "permit-application/1", "applicant": {}}', encoding="utf-8")
    with pytest.raises(ApplicationError, match="application must be an object"):
        load_application(path)
