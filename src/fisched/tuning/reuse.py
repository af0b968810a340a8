"""Known schedules reused: a new task starts from the best schedules of structurally equal tasks.

Transfer-Tuning's idea (PACT'22) inside MetaSchedule's own interfaces: the known schedules
(``library.known_schedules``: the host's library and the shipped one) are built and timed here
and committed to the workdir's database before the search, and MetaSchedule's evolutionary
search seeds its population from a task's best records.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..costmodel.library import known_schedules
from ..errors import tvm_error_line
from ..metaschedule.records import applies_to, records_by_task
from .validate import retime

log = logging.getLogger("fisched")

DEFAULT_REUSE_TOP = 3  # known schedules a task starts from (each measured once more)


def warm_start(tasks: list, database, target, sources: list[Path],
               top: int = DEFAULT_REUSE_TOP, rounds: int = 3) -> dict[str, int]:
    """Measure, for every task without a record in ``database``, the ``top`` best known
    schedules of structurally equal workloads, and commit them to ``database``: MetaSchedule's
    evolutionary search seeds its population from a task's best records, so the search starts
    from them (Transfer-Tuning's idea, PACT'22). They count as trials of the run, as what they
    are: programs measured on this host now. Returns, per task name, how many were reused."""
    from tvm.s_tir import meta_schedule as ms

    have = records_by_task(database, [t.mod for t in tasks])
    fresh = [t for t, recs in zip(tasks, have) if not recs]
    if not fresh or not sources:
        return {}
    reused: dict[str, int] = {}
    for task, known in zip(fresh, known_schedules([t.mod for t in fresh], sources, top)):
        if not known:
            continue
        # a workload the database already holds, structurally equal but with its blocks (or
        # the buffers blocks a trace makes are named after) named otherwise, which
        # commit_workload returns for the task, takes no schedule of the task's module, and
        # MetaSchedule's search of the task would not replay it: start from nothing
        workload = database.commit_workload(task.mod)
        if not (workload.mod.same_as(task.mod)
                or all(applies_to(rec.trace, workload.mod) for rec in known)):
            log.warning("%s: the database holds this workload with other block names; not "
                        "started from known schedules", task.name)
            continue
        try:
            cands, times = retime(known, target, rounds)
        except Exception as err:  # a schedule that no longer builds here: start from nothing
            log.warning("%s: known schedules do not build here (%s)", task.name,
                        tvm_error_line(err))
            continue
        for rec, cand, secs in zip(known, cands, times):
            database.commit_tuning_record(ms.database.TuningRecord(
                rec.trace, workload, run_secs=secs, target=target, args_info=cand.args_info))
        reused[task.name] = len(known)
        log.info("%s: started from %d known schedules (best %.3f ms here)", task.name,
                 len(known), min(min(t) for t in times) * 1e3)
    return reused


