"""Trim a cosmic-ray session to the security-critical lines and a stratified sample.

``python scripts/mutation/sample.py SESSION.sqlite [PATH:FIRST-LAST ...]``

* with line ranges, only mutants inside them are kept (e.g. ``IssuanceWorkflow._check``);
* every mutation *site* is kept, but of the ~12 variants of a binary-operator replacement
  one is kept per site, of comparison replacements two, of number replacements one (chosen
  by a fixed seed): the sample still touches every operator and every constant, within a
  CPU budget a 2-core CI machine can afford.
"""

from __future__ import annotations

import random
import re
import sqlite3
import sys

KEEP = {"ReplaceBinaryOperator": 1, "ReplaceComparisonOperator": 2, "NumberReplacer": 1}


def family(operator: str) -> str:
    name = operator.split("/")[-1]
    match = re.match(r"(ReplaceBinaryOperator|ReplaceComparisonOperator)_", name)
    return match.group(1) if match else name


def main(argv: list[str]) -> int:
    session, ranges = argv[0], []
    for spec in argv[1:]:
        path, _, lines = spec.rpartition(":")
        first, _, last = lines.partition("-")
        ranges.append((path, int(first), int(last or first)))
    db = sqlite3.connect(session)
    rows = db.execute(
        "SELECT job_id, module_path, operator_name, start_pos_row, start_pos_col "
        "FROM mutation_specs ORDER BY job_id"
    ).fetchall()
    rng = random.Random(9)
    sites: dict[tuple[str, int, int, str], list[str]] = {}
    for job, path, op, row, col in rows:
        if ranges and not any(p == path and a <= row <= b for p, a, b in ranges):
            continue
        sites.setdefault((path, row, col, family(op)), []).append(job)
    keep: set[str] = set()
    for (_, _, _, fam), jobs in sites.items():
        n = KEEP.get(fam, len(jobs))
        keep.update(rng.sample(jobs, min(n, len(jobs))))
    drop = [(job,) for job, *_ in rows if job not in keep]
    db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", drop)
    db.executemany("DELETE FROM work_items WHERE job_id = ?", drop)
    db.commit()
    print(f"{session}: kept {len(keep)} of {len(rows)} mutants")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
