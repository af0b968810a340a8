"""Re-time each task's best few schedules side by side and compile the one that is really fastest.

MetaSchedule compiles, per task, the schedule with the lowest recorded latency, and the runner
times each candidate once, in a single ~100 ms window. Where the machine's speed drifts (on this
2-core virtual machine one unchanged BERT kernel measured 0.60 to 1.19 ms in windows seconds
apart), the lowest record of a task is as much the luckiest window as the fastest schedule: the
winner's curse of taking a minimum over noisy measurements. Validation builds the ``top``
schedules with the lowest records of every task that has a choice, times them in ``rounds``
interleaved rounds on the same arguments (each round as the tuning runner times a candidate,
the order turning each round), and keeps the one with the lowest median. The picks go to a
small database of their own in ``<workdir>/validated/``, which ``compile_model`` consults first;
the tuning database is left as MetaSchedule wrote it, and tuning again removes the picks.
Arguments are allocated as the tuning runner allocates them (``fisched.metaschedule.build.alloc_arguments``:
integer inputs, gather/take indices, at zero, so no kernel reads out of bounds in process).
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path

from ..costmodel.dataset import replay
from ..metaschedule.build import alloc_arguments, fast_build
from ..metaschedule.records import best_distinct, open_database, records_by_task, run_seconds
from ..metaschedule.tasks import extract
from ..workdir import validated_dir
from .measure import rotated

DEFAULT_TOP = 5
DEFAULT_ROUNDS = 5


def open_validated(workdir: str | Path, picks_dir: str | Path | None = None):
    """The picks' database, or None if the workdir was not validated."""
    from tvm.s_tir import meta_schedule as ms

    path = Path(picks_dir) if picks_dir else validated_dir(workdir)
    if not (path / "database_tuning_record.json").exists():
        return None
    return ms.database.JSONDatabase(work_dir=str(path), module_equality="structural")


def time_candidates(libs: list, args: list[list], rounds: int, dev) -> list[list[float]]:
    """Seconds per call of each library on its own arguments (``args[i]``: with prepacked
    weights, each schedule reads them in a layout of its own), ``rounds`` times, in rounds
    whose order turns."""
    evaluators = [lib.time_evaluator(lib.entry_name, dev, number=3, repeat=1, min_repeat_ms=100)
                  for lib in libs]
    times: list[list[float]] = [[] for _ in libs]
    for r in range(rounds):
        for i in rotated(list(range(len(libs))), r):
            times[i].append(evaluators[i](*args[i]).mean)
    return times


def retime(records: list, target, rounds: int) -> tuple[list, list[list[float]]]:
    """Rebuild ``records`` (``best_distinct``) and time them in ``rounds`` interleaved rounds,
    each on arguments allocated as the tuning runner allocates them; returns the replayed
    candidates and the seconds per call of each, round by round."""
    import tvm

    dev = tvm.cpu()
    cands = [replay(r) for r in records]
    libs = [fast_build(c.sch.mod, target, None) for c in cands]
    args = [alloc_arguments(dev, [a.as_json() for a in c.args_info], 1)[0] for c in cands]
    return cands, time_candidates(libs, args, rounds, dev)


def validate(model, workdir: str | Path, target, top: int = DEFAULT_TOP,
             rounds: int = DEFAULT_ROUNDS, log=None, picks_dir: str | Path | None = None) -> dict:
    """Pick each task's schedule by re-timing its ``top`` best records; returns a summary.

    Per task: the recorded latency of MetaSchedule's pick, the re-timed median of every
    contender, which one won and whether it is MetaSchedule's own pick (``kept``). The picks go
    to ``picks_dir`` (default ``<workdir>/validated``, what ``compile_model`` reads).
    """
    from tvm.s_tir import meta_schedule as ms

    if top < 2 or rounds < 1:
        raise ValueError("validation needs top >= 2 and rounds >= 1")
    start = time.time()
    tasks = extract(model, target)
    records = records_by_task(open_database(workdir), [t.mod for t in tasks])
    path = Path(picks_dir) if picks_dir else validated_dir(workdir)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    picks = ms.database.JSONDatabase(work_dir=str(path), module_equality="structural")
    summary = []
    for task, recs in zip(tasks, records):
        # each as a schedule of the task's own module (renamed where a workload of the
        # workdir names its blocks otherwise; ``fisched tune`` keeps one model per workdir, so
        # only a workdir filled by other means has them): the pick goes under task.mod, and
        # one that did not replay on it would leave the picks' database unopenable
        contenders = best_distinct(recs, top, replays_on=task.mod)
        if len(contenders) < 2:
            continue
        cands, times = retime(contenders, target, rounds)
        medians = [statistics.median(t) for t in times]
        win = min(range(len(cands)), key=medians.__getitem__)
        picks.commit_tuning_record(ms.database.TuningRecord(
            contenders[win].trace, picks.commit_workload(task.mod), run_secs=times[win],
            target=target, args_info=cands[win].args_info))
        row = {"task": task.name, "recorded_ms": [run_seconds(r) * 1e3 for r in contenders],
               "retimed_ms": [m * 1e3 for m in medians], "winner": win, "kept": win == 0}
        summary.append(row)
        if log:
            log(f"{task.name[:50]:50s} recorded {row['recorded_ms'][0]:.3f} ms, re-timed "
                f"{row['retimed_ms'][0]:.3f}; pick #{win} at {row['retimed_ms'][win]:.3f} ms")
    return {"top": top, "rounds": rounds, "seconds": time.time() - start, "tasks": summary}
