"""A service process of the double-issuance race (``test_workflow_race.py``).

``serve(url, leader, conn, barrier, go)``: its own station (own keys, own simulated cards) on
the shared register.  For every ``(seed, application_id, step)`` received on ``conn`` it
inserts a fresh card and issues that application: together with the other process (at the
cross-process ``barrier``) when ``step`` is ``None``, else the leader sets ``go`` when it
reaches ``step`` and the other process starts then.  It sends the
:class:`~tests.workflows.race.Outcome` back; ``None`` ends it.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any

from card_service.workflows.application import synthetic_application
from card_service.workflows.progress import Step
from tests.workflows.conftest import NOW, make_world
from tests.workflows.race import issue_once, signal_at


def serve(url: str, leader: bool, conn: Connection, barrier: Any, go: Any) -> None:
    world = make_world(url, slots=1, migrate=False)
    try:
        conn.send("ready")
        while (job := conn.recv()) is not None:
            seed, application_id, step_name = job
            step = None if step_name is None else Step(step_name)
            app = synthetic_application(NOW, seed=seed)
            card = world.new_card()
            reader = world.driver.insert(0, card)
            if step is None:
                workflow, start, done = world.workflow(), barrier, None
            elif leader:
                workflow, start, done = world.workflow(hook=signal_at(step, go)), None, go
            else:
                workflow, start, done = world.workflow(), go, None
            conn.send(issue_once(workflow, app, application_id, reader, card, NOW, start, done))
            world.driver.remove(0)
    finally:
        world.close()
