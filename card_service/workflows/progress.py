"""Step-by-step progress of a workflow, for the API and the web page, and crash injection.

A workflow calls ``hook(step)`` at every step boundary *before* the step runs and reports
``ProgressEvent``s to ``on_progress``.  Tests inject a hook that raises
:class:`SimulatedCrash` at boundary *i* to model a process killed between two steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from keys.clock import require_utc

__all__ = [
    "ProgressEvent",
    "ProgressSink",
    "SimulatedCrash",
    "Step",
    "StepHook",
    "crash_at",
    "utc",
]


class Step(StrEnum):
    """The issuance steps in order (endorse/lock use a subset)."""

    RESERVE = "reserve"
    OPEN_CHANNEL = "open_channel"
    GENERATE_KEY = "generate_key"
    SIGN = "sign"
    WRITE = "write"
    VERIFY = "verify"
    MARK_ISSUED = "mark_issued"
    LOCK = "lock"
    CONFIRM = "confirm"


ISSUANCE_STEPS: tuple[Step, ...] = tuple(Step)


@dataclass(frozen=True)
class ProgressEvent:
    """``status`` is ``started``, ``done`` or ``failed``; ``detail`` is a short code."""

    step: Step
    status: str
    index: int
    total: int
    permit_number: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "step": self.step.value,
            "status": self.status,
            "index": self.index,
            "total": self.total,
            "permit_number": self.permit_number,
            "detail": self.detail,
        }


ProgressSink = Callable[[ProgressEvent], None]
StepHook = Callable[[Step], None]


class SimulatedCrash(BaseException):
    """A process kill between two steps (BaseException: no ``except Exception`` catches it)."""


def crash_at(boundary: int) -> StepHook:
    """A hook that raises :class:`SimulatedCrash` at the ``boundary``-th step boundary (0-based)."""
    seen = [0]

    def hook(step: Step) -> None:
        index = seen[0]
        seen[0] += 1
        if index == boundary:
            raise SimulatedCrash(f"crash before step {step.value}")

    return hook


def utc(now: dt.datetime) -> dt.datetime:
    """``now`` in UTC; :class:`keys.clock.NaiveDateTime` (a ``PermitError`` and a
    ``ValueError``) if it has no time zone.  The workflows' name for the one check."""
    return require_utc(now)
