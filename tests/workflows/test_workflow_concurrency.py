"""50 concurrent issuances against PostgreSQL; one card is never personalised twice at once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from card_service.card.wire import LifeCycle
from card_service.register.models import PermitState
from card_service.workflows import IssuanceResult
from reader_drivers.errors import ReaderBusy
from tests.workflows.conftest import NOW, World, make_world
from tests.workflows.helpers import check_invariants

COUNT = 50


@pytest.fixture
def pg_world(postgres_database: str) -> Iterator[World]:
    w = make_world(postgres_database, slots=COUNT + 1)
    yield w
    w.engine.dispose()


def test_fifty_concurrent_issuances_on_postgres(pg_world: World) -> None:
    world = pg_world
    jobs = []
    cards = []
    for i in range(COUNT):
        card = world.new_card()
        cards.append(card)
        reader = world.driver.insert(i, card)
        app, app_id = world.application()
        jobs.append((app, app_id, reader))

    def run(job: tuple[object, int, str]) -> IssuanceResult:
        app, app_id, reader = job
        return world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=COUNT) as pool:
        results = list(pool.map(run, jobs))
    numbers = {r.permit_number for r in results}
    assert len(numbers) == COUNT
    for r in results:
        assert world.register.permit(r.permit_number).state is PermitState.ISSUED
    assert all(c.life_cycle is LifeCycle.ISSUED for c in cards)
    for i in range(COUNT):
        world.driver.remove(i)
    check_invariants(world, cards[:10])


def test_one_card_is_never_personalised_by_two_requests(world: World) -> None:
    card = world.new_card()
    reader = world.driver.insert(0, card)
    holder = world.driver.connect(reader, exclusive=True)  # another request holds the card
    app, app_id = world.application()
    with pytest.raises(ReaderBusy):
        world.workflow().issue(app, app_id, reader, NOW)
    holder.disconnect()
    assert card.life_cycle is LifeCycle.BLANK
    assert world.register.pending_issuances() == []


def test_two_service_processes_share_one_postgres(pg_world: World) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    url = pg_world.engine.url.render_as_string(hide_password=False)
    root = Path(__file__).parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.workflows.worker", url, "10", str(seed)],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in (10_000, 20_000)
    ]
    numbers: list[str] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        numbers += json.loads(out.strip().splitlines()[-1])
    assert len(set(numbers)) == 20
    for number in numbers:
        assert pg_world.register.permit(number).state is PermitState.ISSUED
