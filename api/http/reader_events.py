"""Card and reader events, fanned out to every open ``GET /v1/readers/events`` stream.

A reader driver's ``wait_for_events`` has one consumer (each call returns the events since
the previous one), so one :class:`ReaderEventHub` per app polls ``office.reader_events`` in
its own thread - started by the first subscriber, stopped after the last one leaves - and
hands each event to every subscriber's queue on the subscriber's event loop.  When the hub
starts it first drains what the driver collected before anybody listened, then tells its
subscribers it is ``ready``: every event after that reaches them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from card_service.office import ReaderChange
from permit_errors import PermitError

__all__ = ["READY", "Failed", "ReaderEventHub", "Subscription"]

log = logging.getLogger(__name__)

#: Put on a subscriber's queue once the hub listens (events after it are delivered).
READY = "ready"


@dataclass(frozen=True)
class Failed:
    """The driver failed: the hub stopped; ``code`` is the error's stable code."""

    code: str


Item = ReaderChange | Failed | str


@dataclass(eq=False)
class Subscription:
    """One stream's queue, on the loop that reads it."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)

    def put(self, item: Item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the stream is gone
            pass


class ReaderEventHub:
    """Poll ``poll(timeout)`` in one thread while anybody listens; fan the events out."""

    def __init__(self, poll: Callable[[float], list[ReaderChange]], *, interval: float = 0.5):
        self._poll = poll
        self.interval = interval
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._thread: threading.Thread | None = None
        self._ready = False

    @property
    def running(self) -> bool:
        return self._thread is not None

    def subscribe(self) -> Subscription:
        """A new subscription on the running loop (starts the hub if it is not running)."""
        sub = Subscription(asyncio.get_running_loop())
        with self._lock:
            self._subscribers.add(sub)
            if self._thread is None:
                self._ready = False
                self._thread = threading.Thread(
                    target=self._run, name="permit-reader-events", daemon=True
                )
                self._thread.start()
            elif self._ready:
                sub.put(READY)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def _broadcast(self, item: Item) -> None:
        with self._lock:
            targets = list(self._subscribers)
        for sub in targets:
            sub.put(item)

    def _run(self) -> None:
        try:
            self._poll(0.0)  # what happened before anybody listened
            with self._lock:
                self._ready = True
            self._broadcast(READY)
            while True:
                with self._lock:
                    if not self._subscribers:
                        self._thread = None
                        return
                for change in self._poll(self.interval):
                    self._broadcast(change)
        except PermitError as exc:
            log.warning("reader events stopped: %s (%s)", exc.code, exc.kind)
            failure = Failed(exc.code)
        except Exception as exc:
            log.error("reader events stopped: %s", type(exc).__name__)
            failure = Failed("internal_error")
        with self._lock:
            targets = list(self._subscribers)
            self._subscribers.clear()
            self._thread = None
        for sub in targets:
            sub.put(failure)
