"""``permit issue|verify|endorse|revoke|replace|terminate|reconcile``: officer workflows.

Each command is one use case of the office (:mod:`card_service.office`): keys from the
configured key store (``permit keys init``), the register from ``PERMIT_DATABASE_URL`` and
``PERMIT_AUTHORITY_CODE``, readers from ``PERMIT_READERS``.
The initial PIN and PUK are printed once for the PIN letter; they are never logged.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from card_service.office import APPLICATION_MAX_BYTES, Office, OfflineVerification

from .common import instant as _instant
from .common import open_office, print_json, read_input
from .common import permit_number as _permit_number
from .common import seconds as _seconds
from .common import utc_now as _now

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the workflow commands to the ``permit`` parser."""
    issue = subparsers.add_parser("issue", help="issue a permit onto the card in a reader")
    issue.add_argument("--reader", required=True, metavar="NAME")
    issue.add_argument("application", type=Path, metavar="APPLICATION.json")
    issue.add_argument("--application-id", type=int, default=None, help="retry this application")
    issue.set_defaults(func=run_issue)

    verify = subparsers.add_parser("verify", help="fully verify the card in a reader")
    verify.add_argument("--reader", required=True, metavar="NAME")
    verify.add_argument("--json", action="store_true")
    verify.add_argument(
        "--trust",
        type=Path,
        metavar="DIR",
        default=None,
        help="offline: the trust directory (permit trust fetch, permit keys export-trust); "
        "no register, no key store",
    )
    verify.add_argument(
        "--status-list",
        type=Path,
        metavar="FILE",
        default=None,
        help="offline: the signed status list (permit trust fetch writes DIR/status-list.cwt)",
    )
    verify.set_defaults(func=run_verify)

    endorse = subparsers.add_parser("endorse", help="endorse the permit on the card in a reader")
    endorse.add_argument("--reader", required=True, metavar="NAME")
    endorse.set_defaults(func=run_endorse)

    revoke = subparsers.add_parser("revoke", help="revoke a permit (lost, stolen, cancelled)")
    revoke.add_argument("number", metavar="NUMBER", type=_permit_number)
    revoke.add_argument("--reason", required=True, choices=["lost", "stolen", "cancelled"])
    revoke.add_argument("--effective", type=_instant, default=None, help="ISO 8601 instant")
    revoke.set_defaults(func=run_revoke)

    replace = subparsers.add_parser("replace", help="replace a permit onto a new card")
    replace.add_argument("number", metavar="NUMBER", type=_permit_number)
    replace.add_argument("--reason", required=True, choices=["lost", "stolen", "damaged"])
    replace.add_argument("--reader", required=True, metavar="NAME")
    replace.add_argument("application", type=Path, metavar="APPLICATION.json")
    replace.set_defaults(func=run_replace)

    terminate = subparsers.add_parser("terminate", help="terminate a returned card")
    terminate.add_argument("--reader", required=True, metavar="NAME")
    terminate.set_defaults(func=run_terminate)

    reconcile = subparsers.add_parser("reconcile", help="finish or roll back pending issuances")
    reconcile.add_argument("--older-than", type=_seconds, default=0.0, metavar="SECONDS")
    reconcile.set_defaults(func=run_reconcile)
    for command in (issue, verify, endorse, revoke, replace, terminate, reconcile):
        command.set_defaults(errors="workflow")


def _progress(event: Any) -> None:
    if event.status == "started":
        print(f"[{event.index}/{event.total}] {event.step.value}", flush=True)


def _office() -> Office:
    return open_office(on_progress=_progress)


def _application(office: Office, path: Path) -> Any:
    """The application file, read (bounded) and validated before anything is recorded."""
    return office.parse_application(read_input(path, APPLICATION_MAX_BYTES, "application file"))


def run_issue(args: argparse.Namespace) -> int:
    now = _now()
    with _office() as office:
        application = _application(office, args.application)
        result = office.issue(application, args.reader, now, application_id=args.application_id)
    print(f"issued permit {result.permit_number} on card {result.card_serial}")
    if result.pin is not None:
        print(f"PIN letter: PIN {result.pin}  PUK {result.puk}")
    if result.pin_letter_lost:
        print(
            "PIN letter lost: the card was locked before its PIN letter was shown and a locked "
            f"card's PIN cannot be reset; replace it (permit replace {result.permit_number} "
            "--reason damaged)"
        )
    return 0


#: Exit status of an offline verification whose revocation status is unknown (fetch a
#: fresh status list): apart from 1 (not valid) so that a terminal can tell them apart.
EXIT_STATUS_UNKNOWN = 3
#: Largest status list file read (the parser's own bound).
STATUS_LIST_MAX_BYTES = 32 * 1024 * 1024


def run_verify(args: argparse.Namespace) -> int:
    if args.trust is not None or args.status_list is not None:
        return _verify_offline(args)
    with _office() as office:
        check = office.verify_card(args.reader, _now(), audit_actor="counter")
    if args.json:
        print_json(check.to_json())
    else:
        print("PASSED" if check.passed else "FAILED")
        for problem in check.problems:
            print(f"  {problem}")
    return 0 if check.passed else 1


def _verify_offline(args: argparse.Namespace) -> int:
    """``permit verify --trust DIR [--status-list FILE]``: no register, no key store."""
    token = None
    if args.status_list is not None:
        token = read_input(args.status_list, STATUS_LIST_MAX_BYTES, "status list")
    with _office() as office:
        outcome: OfflineVerification = office.verify_card_offline(
            args.reader, _now(), trust_dir=args.trust, status_list=token
        )
    if args.json:
        print_json(outcome.to_json())
    else:
        print(outcome.verdict)
        for problem in outcome.check.problems:
            print(f"  {problem}")
        if outcome.check.result is not None:
            for reason in outcome.check.result.reasons:
                print(f"  {reason.code}: {reason.message}")
        info = outcome.status_list
        if info is not None:
            print(
                f"status list issued {info.issued_at.isoformat()}, "
                f"fetch again after {info.refresh_at.isoformat()}"
            )
        else:
            print(f"no usable status list ({outcome.list_problem})")
    if outcome.verdict == "VALID":
        return 0
    return EXIT_STATUS_UNKNOWN if outcome.verdict == "STATUS_UNKNOWN" else 1


def run_endorse(args: argparse.Namespace) -> int:
    with _office() as office:
        result = office.endorse(args.reader, _now())
    late = " (late)" if result.late else ""
    print(f"endorsed permit {result.permit_number}, endorsement {result.sequence}{late}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    now = _now()
    with _office() as office:
        view = office.revoke(args.number, args.reason, now, effective_at=args.effective)
    print(f"permit {view.number} revoked ({args.reason})")
    return 0


def run_replace(args: argparse.Namespace) -> int:
    now = _now()
    with _office() as office:
        application = _application(office, args.application)
        result = office.replace(args.number, args.reason, application, args.reader, now)
    print(f"permit {args.number} replaced by {result.permit_number} on card {result.card_serial}")
    if result.pin is not None:
        print(f"PIN letter: PIN {result.pin}  PUK {result.puk}")
    return 0


def run_terminate(args: argparse.Namespace) -> int:
    with _office() as office:
        result = office.terminate(args.reader, _now())
    print(f"card {result.card_serial} terminated")
    return 0


def run_reconcile(args: argparse.Namespace) -> int:
    with _office() as office:
        outcomes = office.reconcile(_now(), older_than=dt.timedelta(seconds=args.older_than))
    for outcome in outcomes:
        print(f"{outcome.permit_number}: {outcome.action}")
        if outcome.action == "lock_pending_new_pin_letter":
            # the card is in a reader, unlocked, its PIN letter never shown: the officer's
            # resume sets a fresh PIN, locks the card and prints the new letter
            print(
                f"  resume with the card: permit issue --application-id "
                f"{outcome.application_id} (prints a new PIN letter)"
            )
    return 0
