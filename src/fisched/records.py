"""Reading MetaSchedule's JSON database: the single source of truth for what was measured."""

from __future__ import annotations

import math
from pathlib import Path

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"
FAILED_SECONDS = 1e9  # run_secs at or above this mark a failed build or run (MetaSchedule uses 1e10)


def open_database(workdir: str | Path):
    """The JSON database in ``workdir`` (created empty if absent)."""
    from tvm.s_tir import meta_schedule as ms

    Path(workdir).mkdir(parents=True, exist_ok=True)
    return ms.database.JSONDatabase(work_dir=str(workdir), module_equality="structural")


def run_seconds(record) -> float | None:
    """Mean measured seconds of a record, or None if its build or run failed."""
    if record.run_secs is None or len(record.run_secs) == 0:
        return None
    secs = [float(s) for s in record.run_secs]
    if any(not math.isfinite(s) or s >= FAILED_SECONDS for s in secs):
        return None
    return sum(secs) / len(secs)


def records_by_task(database, task_mods: list) -> list[list]:
    """All records (failed ones included) of each task module, in the database's order."""
    from tvm_ffi import structural_equal, structural_hash

    index = {}
    for i, mod in enumerate(task_mods):
        index.setdefault(structural_hash(mod), []).append(i)
    grouped: list[list] = [[] for _ in task_mods]
    for record in database.get_all_tuning_records():
        for i in index.get(structural_hash(record.workload.mod), []):
            if structural_equal(record.workload.mod, task_mods[i]):
                grouped[i].append(record)
                break
    return grouped


def best_seconds(records: list) -> float | None:
    """The fastest successful measurement among ``records``, if any."""
    secs = [s for s in map(run_seconds, records) if s is not None]
    return min(secs) if secs else None
