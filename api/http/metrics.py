"""Prometheus metrics of the service (``prometheus_client``).

Labels are the method, the route *template* and the status: never a raw path, a permit
number, a reader name or a client id.

With one process the metrics live in a registry of the app.  Under ``permit serve
--workers N`` (N > 1) every worker is its own process and a scrape reaches one of them, so
``permit serve`` runs prometheus_client's multiprocess mode: it creates a private (0700)
temporary directory, names it in ``PROMETHEUS_MULTIPROC_DIR`` for the workers, and removes it
at exit; each worker writes its samples there and ``/metrics`` aggregates every worker's
files (:class:`prometheus_client.multiprocess.MultiProcessCollector`), whichever worker
answers.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROC_DIR_ENV", "HttpMetrics", "multiprocess_dir"]

log = logging.getLogger(__name__)

#: prometheus_client's own variable (read by the library when it is first imported).
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Latency buckets (seconds): loopback requests to card operations of a few seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str | None:
    """The multiprocess directory when this process writes its samples there: the variable
    is set *and* was set when prometheus_client was imported (it decides once)."""
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if not directory:
        return None
    if values.ValueClass is values.MutexValue:
        log.warning("%s was set after prometheus_client was imported: ignored", MULTIPROC_DIR_ENV)
        return None
    return directory


class HttpMetrics:
    def __init__(self) -> None:
        self.directory = multiprocess_dir()
        # multiprocess: the samples go to the directory's files, so the metrics are
        # registered nowhere (a scrape reads the files)
        self.registry = CollectorRegistry() if self.directory is None else None
        self.requests = Counter(
            "permit_http_requests",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "permit_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            ("method", "route", "status"),
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format (every worker's, in multiprocess
        mode)."""
        if self.directory is None:
            assert self.registry is not None
            return bytes(generate_latest(self.registry))
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
