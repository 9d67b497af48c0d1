"""The one way the domain reaches a card: :class:`CardAccess`.

Workflows used to take a ``(driver, reader_name)`` pair and repeat connect / session /
disconnect each time.  :meth:`CardAccess.session` is that sequence, written once: a context
manager that yields an opened :class:`~card_service.card.session.PermitCardSession` for the
card in a named reader, and disconnects on the way out whatever happens (a failed
disconnect is logged, never raised over the real error).  Access is exclusive by default
(issuer operations must not share the card with another process); reads that other readers
may interleave with pass ``exclusive=False``.

The seam is also where an application layer swaps the transport: a PC/SC driver on a station
with readers, the in-process simulator in tests and demos (``reader_drivers``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from reader_drivers.base import ReaderDriver, ReaderInfo
from reader_drivers.errors import ReaderError

from .session import PermitCardSession

__all__ = ["CardAccess"]

log = logging.getLogger(__name__)


class CardAccess:
    """Opened card sessions for named readers of one :class:`ReaderDriver`."""

    def __init__(self, driver: ReaderDriver) -> None:
        self.driver = driver

    def __repr__(self) -> str:
        return f"CardAccess(driver={self.driver.name!r})"

    def readers(self) -> list[ReaderInfo]:
        """The readers there are now, with whether each holds a card."""
        return self.driver.list_readers()

    @contextmanager
    def session(self, reader: str, *, exclusive: bool = True) -> Iterator[PermitCardSession]:
        """An opened session to the card in ``reader``; disconnected when the block ends.

        Raises :class:`~reader_drivers.errors.ReaderError` subclasses (no such reader, no
        card, reader busy) before yielding.
        """
        connection = self.driver.connect(reader, exclusive=exclusive)
        try:
            yield PermitCardSession(connection)
        finally:
            try:
                connection.disconnect()
            except ReaderError:
                log.debug("disconnect from %r failed", reader, exc_info=True)
