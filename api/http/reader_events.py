"""Card and reader events, fanned out to every open ``GET /v1/readers/events`` stream.

A reader driver's ``wait_for_events`` has one consumer (each call returns the events since
the previous one), so one :class:`ReaderEventHub` per app polls ``office.reader_events`` in
its own thread - started by the first subscriber, stopped after the last one leaves - and
hands each event to every subscriber's queue on the subscriber's event loop.  When the hub
starts it first drains what the driver collected before anybody listened, then tells its
subscribers it is ready: every event after that reaches them.

Resuming (``Last-Event-ID``): each run of the poller has a random *epoch*, and every event
of that run an id ``<epoch>.<seq>`` (``seq`` from 1, gapless); the ``ready`` event carries the
id of the last event before it.  The hub keeps the last :data:`HISTORY` events.  A stream
opened with the id of an event of the current run still in that history first gets every
later event it missed (:class:`Subscription` ``replay``); with any other id (another run:
the poller stopped in between, or another worker process; too old; malformed) a
:class:`Reset`: events may have been missed, the client must re-read the readers' state.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from card_service.office import ReaderChange
from permit_errors import PermitError

__all__ = [
    "HISTORY",
    "Failed",
    "Numbered",
    "ReaderEventHub",
    "Ready",
    "Reset",
    "Subscription",
]

log = logging.getLogger(__name__)

#: Events kept for streams that resume with ``Last-Event-ID``.
HISTORY = 256


@dataclass(frozen=True)
class Failed:
    """The driver failed: the hub stopped; ``code`` is the error's stable code."""

    code: str


@dataclass(frozen=True)
class Ready:
    """The hub listens: every event after this one is delivered; ``event_id`` is the id
    of the last event before it (``<epoch>.0`` when there was none)."""

    event_id: str


@dataclass(frozen=True)
class Numbered:
    """A change with its event id."""

    event_id: str
    change: ReaderChange


@dataclass(frozen=True)
class Reset:
    """The stream cannot resume where the client left off (``reason``: ``unknown``, an id
    of another poller run or worker, or malformed; ``expired``, older than the history)."""

    reason: str


Item = Numbered | Failed | Ready | Reset


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

    def __init__(
        self,
        poll: Callable[[float], list[ReaderChange]],
        *,
        interval: float = 0.5,
        history: int = HISTORY,
    ):
        self._poll = poll
        self.interval = interval
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._thread: threading.Thread | None = None
        self._ready = False
        self._epoch = ""
        self._seq = 0
        self._history: deque[Numbered] = deque(maxlen=history)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _id(self, seq: int) -> str:
        return f"{self._epoch}.{seq}"

    def subscribe(self, last_event_id: str | None = None) -> Subscription:
        """A new subscription on the running loop (starts the hub if it is not running).
        With ``last_event_id`` its queue first holds the events missed since then, or a
        :class:`Reset`."""
        sub = Subscription(asyncio.get_running_loop())
        with self._lock:
            self._subscribers.add(sub)
            if self._thread is None:  # a new run: nothing before it can be resumed
                self._ready = False
                self._epoch, self._seq = secrets.token_hex(8), 0
                self._history.clear()
                self._thread = threading.Thread(
                    target=self._run, name="permit-reader-events", daemon=True
                )
                self._thread.start()
            if last_event_id is not None:
                for item in self._resume(last_event_id):
                    sub.put(item)
            if self._ready:
                sub.put(Ready(self._id(self._seq)))
        return sub

    def _resume(self, last_event_id: str) -> list[Item]:
        """What a stream resuming after ``last_event_id`` missed (under the lock)."""
        epoch, _, seq_text = last_event_id.partition(".")
        if epoch != self._epoch or not seq_text.isdigit() or int(seq_text) > self._seq:
            return [Reset("unknown")]
        seq = int(seq_text)
        oldest = self._history[0] if self._history else None
        first_kept = self._seq + 1 if oldest is None else int(oldest.event_id.split(".")[1])
        if seq + 1 < first_kept:
            return [Reset("expired")]
        return [n for n in self._history if int(n.event_id.split(".")[1]) > seq]

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def _broadcast(self, change: ReaderChange) -> None:
        with self._lock:
            self._seq += 1
            item = Numbered(self._id(self._seq), change)
            self._history.append(item)
            targets = list(self._subscribers)
        for sub in targets:
            sub.put(item)

    def _run(self) -> None:
        try:
            self._poll(0.0)  # what happened before anybody listened
            with self._lock:
                self._ready = True
                ready = Ready(self._id(self._seq))
                targets = list(self._subscribers)
            for sub in targets:
                sub.put(ready)
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
