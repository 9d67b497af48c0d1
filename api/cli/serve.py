"""``permit serve``: the HTTP service under uvicorn, with uvloop and httptools.

The event loop and HTTP parser are not uvicorn's defaults on purpose: with the plain asyncio
loop and several workers uvicorn answers each keep-alive request in about 44 ms;
tests/http/test_serve.py checks both the configuration and that a running worker loaded
them.  Before the workers start, the serving process reconciles pending issuances once
(not once per worker, so workers never race over a card); a failure there is logged and
does not stop the service (``permit reconcile`` can be run by hand).  With several workers
it gives them a private directory for Prometheus' multiprocess mode (:func:`metrics_dir`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from card_service.office import Office

from .common import seconds as _seconds
from .common import utc_now

__all__ = ["register", "uvicorn_options"]

log = logging.getLogger(__name__)

#: prometheus_client's variable (api.http.metrics.MULTIPROC_DIR_ENV; not imported from there:
#: it must be set before prometheus_client is first imported).
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Pending issuances younger than this are left alone at start-up: another station sharing
#: the register may be issuing them right now.
RECONCILE_OLDER_THAN = 300.0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP service (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--workers", type=_workers, default=1, metavar="N")
    serve.add_argument(
        "--reconcile-older-than",
        type=_seconds,
        default=RECONCILE_OLDER_THAN,
        metavar="SECONDS",
        help="at start-up, finish or roll back pending issuances older than this",
    )
    serve.add_argument("--no-reconcile", action="store_true", help="skip the start-up reconcile")
    serve.set_defaults(func=run_serve)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0-65535")
    return value


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("workers: 1-64")
    return value


def uvicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` for ``permit serve``."""
    from api.http.main import APP_FACTORY

    return {
        "app": APP_FACTORY,
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        # the app logs failures with their request id; uvicorn's access log would repeat
        # every raw path (permit numbers) and query string
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,
    }


def reconcile_at_start(office: Office, now: dt.datetime, older_than: float) -> None:
    """Finish or roll back stale pending issuances; log the outcome, never fail."""
    try:
        outcomes = office.reconcile(now, older_than=dt.timedelta(seconds=older_than))
    except Exception as exc:
        code = getattr(exc, "code", type(exc).__name__)
        log.warning("start-up reconciliation failed (%s): run 'permit reconcile' by hand", code)
        return
    for outcome in outcomes:
        log.warning("start-up reconciliation: %s %s", outcome.permit_number, outcome.action)
        if outcome.action == "lock_pending_new_pin_letter":
            log.warning(
                "start-up reconciliation: %s left for the officer: resume the issuance of "
                "application %s with the card (a new PIN letter is printed)",
                outcome.permit_number,
                outcome.application_id,
            )
    log.info("start-up reconciliation: %d pending issuance(s) handled", len(outcomes))


@contextlib.contextmanager
def metrics_dir(workers: int) -> Iterator[None]:
    """With several workers: a private (0700) temporary directory for prometheus_client's
    multiprocess mode, named in ``PROMETHEUS_MULTIPROC_DIR`` for the worker processes (set
    before prometheus_client is imported) and removed at exit, so ``/metrics`` aggregates
    every worker (api/http/metrics.py).  One worker keeps its metrics in memory."""
    if workers < 2:
        yield
        return
    directory = tempfile.mkdtemp(prefix="permit-metrics-")  # mode 0700
    previous = os.environ.get(MULTIPROC_DIR_ENV)
    os.environ[MULTIPROC_DIR_ENV] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_DIR_ENV, None)
        else:
            os.environ[MULTIPROC_DIR_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if not args.no_reconcile:
        with Office.from_env(os.environ) as office:
            reconcile_at_start(office, utc_now(), args.reconcile_older_than)
    with metrics_dir(args.workers):
        uvicorn.run(**uvicorn_options(args.host, args.port, args.workers))
    return 0
