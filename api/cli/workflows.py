"""``permit issue|verify|endorse|revoke|replace|terminate|reconcile``: officer workflows.

Keys come from the configured key store (``permit keys init``), the register from
``PERMIT_DATABASE_URL`` and ``PERMIT_AUTHORITY_CODE``, readers from ``PERMIT_READERS``.
The initial PIN and PUK are printed once for the PIN letter; they are never logged.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from .common import CliError, print_json, read_input
from .common import instant as _instant
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


class _Env:
    """Register, issuer keys and reader driver for one command."""

    def __init__(self, now: dt.datetime, *, keys: bool = True) -> None:
        from sqlalchemy.exc import ArgumentError

        from card_service.register.db import make_engine
        from card_service.register.service import Register
        from card_service.register.settings import authority_code, checkpoint_every
        from card_service.workflows import IssuerContext
        from keys.errors import KeyStoreError
        from keys.pki import KeyManager

        from .env import reader_driver

        try:
            code, every = authority_code(), checkpoint_every()
        except ValueError as exc:
            raise CliError(f"error: {exc}", exit_code=2) from None
        try:
            self.engine = make_engine()
            self.driver = reader_driver()
        except ArgumentError:  # not a URL, or a database driver that is not installed
            raise CliError("error: PERMIT_DATABASE_URL is not a usable database URL", 2) from None
        except ValueError as exc:  # unsupported database; unknown PERMIT_READERS
            raise CliError(f"error: {exc}", exit_code=2) from None
        self.issuer: Any = None
        manager: KeyManager | None = None
        if keys:
            try:
                manager = KeyManager()
                if not manager.initialised():
                    raise CliError("error: no keys configured: run 'permit keys init' first")
                self.issuer = IssuerContext.from_key_manager(manager, now)
            except KeyStoreError as exc:
                raise CliError(f"error: {exc}") from None
        # With keys at hand the audit log is sealed every ``every`` entries by the audit
        # signer; commands without keys (revoke) leave the seal to the next one that has them.
        from card_service.audit import WitnessDir, witness_dir

        self.register = Register(
            self.engine,
            authority_code=code,
            checkpoint_signer=manager,
            checkpoint_every=every,
            checkpoint_witness=WitnessDir(witness_dir()),
        )

    def workflow(self) -> Any:
        from card_service.workflows import IssuanceWorkflow

        def show(event: Any) -> None:
            if event.status == "started":
                print(f"[{event.index}/{event.total}] {event.step.value}", flush=True)

        return IssuanceWorkflow(self.register, self.issuer, self.driver, on_progress=show)


def _describe(exc: Exception) -> str | None:
    """The one-line message for an expected failure; None for anything else (a bug)."""
    from sqlalchemy.exc import SQLAlchemyError

    from card_service.card.errors import CardError
    from card_service.register.errors import RegisterError
    from card_service.workflows import ApplicationError, IssuanceError
    from reader_drivers.errors import ReaderError

    if isinstance(exc, ApplicationError | IssuanceError | RegisterError | CardError | ReaderError):
        return f"error: {type(exc).__name__}: {exc}"
    if isinstance(exc, SQLAlchemyError):
        # Never the driver's message: it carries SQL parameters (personal data) and may
        # carry the database URL.
        return (
            f"error: register database failed ({type(exc).__name__}): check "
            "PERMIT_DATABASE_URL and run 'permit register migrate'"
        )
    return None


def _guard(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            result: int = func(args)
            return result
        except Exception as exc:
            message = _describe(exc)
            if message is None:
                raise
            raise CliError(message) from None

    return run


def _require_card(driver: Any, reader: str) -> None:
    """Fail before anything is recorded when the reader does not exist or is empty."""
    from reader_drivers.errors import NoCard, NoSuchReader

    readers = driver.list_readers()
    found = [r for r in readers if r.name == reader]
    if not found:
        raise NoSuchReader(reader, [r.name for r in readers])
    if not found[0].card_present:
        raise NoCard(reader)


def _application(path: Path) -> Any:
    """The application file, read (bounded) and validated before anything is recorded."""
    from card_service.workflows.application import (
        APPLICATION_MAX_BYTES,
        parse_application_bytes,
    )

    return parse_application_bytes(read_input(path, APPLICATION_MAX_BYTES, "application file"))


@_guard
def _issue(args: argparse.Namespace) -> int:
    now = _now()
    application = _application(args.application)
    env = _Env(now)
    _require_card(env.driver, args.reader)
    app_id = args.application_id
    if app_id is None:
        decision = env.register.submit_application(
            application.applicant_data(), application.application_data(), "officer", now
        )
        if not decision.approved:
            raise CliError("error: application rejected: " + ",".join(decision.reasons))
        app_id = decision.application_id
        try:
            result = env.workflow().issue(application, app_id, args.reader, now)
        except Exception as exc:
            message = _describe(exc)
            if message is None:
                raise
            # The application is approved and recorded: a retry must name it.
            hint = f"application {app_id} is approved: retry with --application-id {app_id}"
            raise CliError(f"{message} ({hint})") from None
    else:
        result = env.workflow().issue(application, app_id, args.reader, now)
    print(f"issued permit {result.permit_number} on card {result.card_serial}")
    if result.pin is not None:
        print(f"PIN letter: PIN {result.pin}  PUK {result.puk}")
    return 0


run_issue = _issue


@_guard
def run_verify(args: argparse.Namespace) -> int:
    from card_service.record import Verifier
    from card_service.workflows.verify import register_revocation, verify_card

    now = _now()
    env = _Env(now)
    verifier = Verifier(env.issuer.trust, revocation=register_revocation(env.register))
    check = verify_card(
        env.driver, args.reader, verifier, now, register=env.register, audit_actor="counter"
    )
    if args.json:
        print_json(check.to_json())
    else:
        print("PASSED" if check.passed else "FAILED")
        for problem in check.problems:
            print(f"  {problem}")
    return 0 if check.passed else 1


@_guard
def run_endorse(args: argparse.Namespace) -> int:
    from card_service.workflows.endorsement import endorse_card

    now = _now()
    env = _Env(now)
    result = endorse_card(env.register, env.issuer, env.driver, args.reader, now)
    late = " (late)" if result.late else ""
    print(f"endorsed permit {result.permit_number}, endorsement {result.sequence}{late}")
    return 0


@_guard
def run_revoke(args: argparse.Namespace) -> int:
    from card_service.workflows.revocation import revoke_permit

    now = _now()
    env = _Env(now, keys=False)
    view = revoke_permit(
        env.register,
        args.number,
        args.reason,
        effective_at=args.effective or now,
        actor="officer",
        now=now,
    )
    print(f"permit {view.number} revoked ({args.reason})")
    return 0


@_guard
def run_replace(args: argparse.Namespace) -> int:
    from card_service.workflows.revocation import replace_permit

    now = _now()
    application = _application(args.application)
    env = _Env(now)
    result = replace_permit(env.workflow(), args.number, args.reason, application, args.reader, now)
    print(f"permit {args.number} replaced by {result.permit_number} on card {result.card_serial}")
    if result.pin is not None:
        print(f"PIN letter: PIN {result.pin}  PUK {result.puk}")
    return 0


@_guard
def run_terminate(args: argparse.Namespace) -> int:
    from card_service.workflows.revocation import terminate_card

    now = _now()
    env = _Env(now)
    serial = terminate_card(env.register, env.issuer, env.driver, args.reader, now)
    print(f"card {serial} terminated")
    return 0


@_guard
def run_reconcile(args: argparse.Namespace) -> int:
    from card_service.workflows import reconcile

    now = _now()
    env = _Env(now)
    outcomes = reconcile(
        env.register,
        env.issuer,
        env.driver,
        now,
        older_than=dt.timedelta(seconds=args.older_than),
    )
    for outcome in outcomes:
        print(f"{outcome.permit_number}: {outcome.action}")
    return 0
