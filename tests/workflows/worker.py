"""A second service process for the two-process test: issue COUNT permits, print numbers.

``python -m tests.workflows.worker URL COUNT SEED``
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from card_service.workflows import IssuanceResult
from tests.workflows.conftest import NOW, make_world


def main(url: str, count: int, seed: int) -> None:
    world = make_world(url, slots=count, migrate=False)
    world.seed = seed
    jobs = []
    for i in range(count):
        reader = world.driver.insert(i, world.new_card())
        app, app_id = world.application()
        jobs.append((app, app_id, reader))

    def run(job: tuple[object, int, str]) -> IssuanceResult:
        app, app_id, reader = job
        return world.workflow().issue(app, app_id, reader, NOW)  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(run, jobs))
    print(json.dumps([r.permit_number for r in results]))
    world.engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
