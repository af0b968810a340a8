"""Tune a model's tasks with MetaSchedule into a workdir's JSON database; resumable.

The workdir holds MetaSchedule's own ``database_*.json`` (the record of every measurement),
``fisched.json`` (what was tuned, and how), MetaSchedule's logs and, after compiling, the model
library and report. Running the same command on the same workdir resumes: the trial budget is a
total, and records already in the database count towards it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .build import intrinsics_only_if_needed, make_builder, make_runner
from .cost_models import make_cost_model
from .errors import FischedError
from .frontend import Model, fuse
from .provenance import provenance
from .records import best_seconds, open_database, records_by_task, run_seconds
from .target import describe, num_cores

META_FILE = "fisched.json"
POPULATION_ENV = "FISCHED_SEARCH_POPULATION"
log = logging.getLogger("fisched")


@dataclass
class Task:
    """One tuning task: a fused TIR function of the model and how often the model calls it."""

    name: str
    mod: object
    weight: float
    flops: float = 0.0


@dataclass
class TuneResult:
    tasks: list[Task]
    trials_before: int
    trials_measured: int
    failed: int
    seconds: float
    profile: dict[str, float] = field(default_factory=dict)
    set_aside: list[str] = field(default_factory=list)  # unreadable records moved aside


def extract(model: Model, target) -> list[Task]:
    """The model's tuning tasks (legalize, fuse, then MetaSchedule's extractor)."""
    from tvm.s_tir import meta_schedule as ms

    extracted = ms.relax_integration.extract_tasks(fuse(model.mod), target)
    tasks = []
    for t in extracted:
        try:
            from tvm.s_tir.analysis import estimate_tir_flops  # noqa: PLC0415
            flops = float(estimate_tir_flops(t.dispatched[0]))
        except Exception:  # flop estimation does not handle every op; it is informative only
            flops = 0.0
        tasks.append(Task(t.task_name, t.dispatched[0], float(t.weight), flops))
    if not tasks:
        raise FischedError(f"model {model.name} has no tunable tasks")
    return tasks


def trials_per_iter(trials: int, n_tasks: int, cap: int = 64) -> int:
    """Candidates measured per task per round: small enough that the first round-robin round
    reaches every task (MetaSchedule has no CPU fallback schedule, an untouched task stays a
    naive loop nest), at most ``cap`` (MetaSchedule's default)."""
    return max(1, min(cap, trials // max(1, n_tasks)))


def check_meta(workdir: Path, model: Model, target) -> dict:
    """Refuse to mix two models or two targets in one database; return the stored metadata."""
    path = workdir / META_FILE
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise FischedError(f"{path} is corrupt; move it away to start afresh") from None
    if meta.get("model") != model.name:
        raise FischedError(f"workdir {workdir} holds tuning of {meta.get('model')!r}, "
                           f"not {model.name!r}; use another --workdir")
    if meta.get("target") != str(target):
        raise FischedError(f"workdir {workdir} was tuned for target {meta.get('target')}, "
                           f"not {target}; use another --workdir")
    if meta_fast_math(meta) != model.fast_math:
        raise FischedError(f"workdir {workdir} was tuned with {meta.get('math', 'exact')} math "
                           "(its tasks differ): " + ("pass --exact-math" if model.fast_math else
                                                     "drop --exact-math") +
                           " or use another --workdir")
    return meta


def meta_fast_math(meta: dict) -> bool:
    """Whether a workdir's model was prepared with fast math (``frontend.prepare``); workdirs
    from before fisched recorded it were not."""
    return meta.get("math", "exact") == "fast"


def write_meta(workdir: Path, model: Model, target, **settings) -> None:
    meta = {"model": model.name, "source": model.source, "target": str(target),
            "math": "fast" if model.fast_math else "exact",
            "inputs": {k: [list(v.shape), str(v.dtype)] for k, v in model.inputs.items()},
            **settings, "provenance": provenance(target)}
    tmp = workdir / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(workdir / META_FILE)


def read_meta(workdir: str | Path) -> dict:
    path = Path(workdir) / META_FILE
    if not path.exists():
        raise FischedError(f"{workdir} has not been tuned (no {META_FILE}); run fisched tune first")
    return json.loads(path.read_text())


def load_tuned_model(spec: str, workdir: str | Path):
    """``(model, target)`` as ``workdir`` was tuned: its recorded target and math, and
    TVM_NUM_THREADS defaulting to the target's cores as the CLI sets it (for scripts that time
    or re-time what a workdir holds)."""
    from .frontend import load_model
    from .target import make_target

    meta = read_meta(workdir)
    target = make_target(meta["target"])
    os.environ.setdefault("TVM_NUM_THREADS", str(num_cores(target)))
    return load_model(spec, threads=num_cores(target), fast_math=meta_fast_math(meta)), target


def _make_progress_callback(tasks: list[Task], total: int, done: int, best: list, show: bool):
    from tqdm import tqdm
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class Progress(ms.measure_callback.PyMeasureCallback):
        """Progress bar: trials done/total, end-to-end estimate from the best per task, time."""

        def __init__(self) -> None:
            self.bar = tqdm(total=total, initial=min(done, total), unit="trial", disable=not show,
                            dynamic_ncols=True, desc="tuning")
            self.failed = 0
            self.measured = 0

        def apply(self, task_scheduler, task_id, measure_candidates, builder_results,
                  runner_results) -> None:
            for build, run in zip(builder_results, runner_results):
                secs = None
                if build.error_msg is None and run.error_msg is None and run.run_secs:
                    secs = sum(float(s) for s in run.run_secs) / len(run.run_secs)
                if secs is None:
                    self.failed += 1
                elif best[task_id] is None or secs < best[task_id]:
                    best[task_id] = secs
            self.measured += len(runner_results)
            self.bar.update(len(runner_results))
            tuned = sum(b is not None for b in best)
            est = sum(t.weight * b for t, b in zip(tasks, best) if b is not None) * 1e3
            self.bar.set_postfix_str(f"est {est:.2f} ms ({tuned}/{len(tasks)} tasks), "
                                     f"{self.failed} failed")

    return Progress()


def tune(model: Model, workdir: str | Path, target, trials: int, cost_model: str = "xgb",
         seed: int | None = 0, num_trials_per_iter: int | None = None, progress: bool = True,
         rpc_tracker: str | None = None, rpc_key: str | None = None,
         cost_model_obj=None, strategy: str = "evolutionary",
         callbacks: tuple = ()) -> TuneResult:
    """Tune ``model`` until the workdir's database holds ``trials`` records for its tasks."""
    if trials <= 0:
        raise FischedError(f"--trials must be positive, got {trials}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    check_meta(workdir, model, target)
    tasks = extract(model, target)
    set_aside: list[str] = []
    database = open_database(workdir, set_aside)
    existing = records_by_task(database, [t.mod for t in tasks])
    done = sum(len(r) for r in existing)
    best = [best_seconds(r) for r in existing]
    write_meta(workdir, model, target, trials=trials, cost_model=cost_model, seed=seed)
    remaining = trials - done
    cores = num_cores(target)
    log.info("%s: %d tasks, target %s; %d of %d trials already in %s", model.name, len(tasks),
             describe(target), done, trials, workdir)
    if remaining <= 0:
        return TuneResult(tasks, done, 0, 0, 0.0, set_aside=set_aside)

    from .validate import discard

    discard(workdir)  # picks among the old records; the new ones may beat them
    per_iter = num_trials_per_iter or trials_per_iter(remaining, len(tasks))
    callback = _make_progress_callback(tasks, trials, done, best, progress)
    model_obj = cost_model_obj or make_cost_model(cost_model, cores, seed)
    start = time.time()
    profile = run_search(tasks, workdir, database, target, max_trials=remaining,
                         per_iter=per_iter, strategy=strategy, cost_model=model_obj, seed=seed,
                         callbacks=[callback, *callbacks], rpc_tracker=rpc_tracker, rpc_key=rpc_key)
    callback.bar.close()
    return TuneResult(tasks, done, callback.measured, callback.failed, time.time() - start,
                      profile, set_aside)


def _quiet_console(level: int) -> None:
    """MetaSchedule logs everything to the console at INFO; keep its files, tame the console."""
    for handler in logging.getLogger("tvm.s_tir.meta_schedule").handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(level)


def search_strategy(strategy):
    """MetaSchedule's search strategy ``strategy`` (a name or an object), with the evolutionary
    search's population (MetaSchedule's default 512 per task) taken from $FISCHED_SEARCH_POPULATION
    when that is set. Each search round mutates the whole population several times, which is most
    of a short tuning run's time; the test suite sets 64 so that its tiny tunes take seconds.
    """
    value = os.environ.get(POPULATION_ENV)
    if strategy != "evolutionary" or not value:
        return strategy
    try:
        population = int(value)
    except ValueError:
        population = 0
    if population < 2:
        raise FischedError(f"${POPULATION_ENV} must be an integer of at least 2, got {value!r}")
    from tvm.s_tir import meta_schedule as ms

    log.info("evolutionary search population %d (from $%s)", population, POPULATION_ENV)
    return ms.search_strategy.EvolutionarySearch(
        population_size=population, init_min_unmeasured=min(50, population))


def run_search(tasks: list[Task], workdir: Path, database, target, *, max_trials: int,
               per_iter: int, strategy: str, cost_model, seed: int | None, callbacks: list,
               max_trials_per_task: int | None = None, rpc_tracker: str | None = None,
               rpc_key: str | None = None, builder=None, runner=None) -> dict[str, float]:
    """One MetaSchedule ``tune_tasks`` call over ``tasks``, committing into ``database``.

    Returns MetaSchedule's profiler totals (seconds per phase: search, build, run, cost model).
    """
    from tvm.s_tir import meta_schedule as ms

    cores = num_cores(target)
    # MetaSchedule re-lists the global logger's handlers by name in a logging dictConfig; an
    # unnamed one (added by a host application, e.g. pytest) makes that crash.
    ms_logger = logging.getLogger("tvm.s_tir.meta_schedule")
    for handler in [h for h in ms_logger.handlers if h.get_name() is None]:
        ms_logger.removeHandler(handler)
    loggers = ms.logging.get_loggers_from_work_dir(str(workdir), [t.name for t in tasks])
    _quiet_console(logging.INFO if log.isEnabledFor(logging.INFO) else logging.WARNING)
    chosen = search_strategy(strategy)  # each context's clone() copies it
    with intrinsics_only_if_needed(target):
        contexts = [
            ms.TuneContext(mod=t.mod, target=target, space_generator="post-order-apply",
                           search_strategy=chosen, task_name=t.name, logger=lg, rand_state=rs,
                           num_threads=cores).clone()
            for t, lg, rs in zip(tasks, loggers, ms.utils.fork_seed(seed, n=len(tasks)))
        ]
    with ms.Profiler() as profiler:
        ms.tune_tasks(
            tasks=contexts, task_weights=[t.weight for t in tasks], work_dir=str(workdir),
            max_trials_global=max_trials, max_trials_per_task=max_trials_per_task,
            num_trials_per_iter=per_iter, builder=builder or make_builder(cores),
            runner=runner or make_runner(rpc_tracker=rpc_tracker, rpc_key=rpc_key),
            database=database, cost_model=cost_model,
            measure_callbacks=[*ms.measure_callback.MeasureCallback.create("default"),
                               *callbacks],
            task_scheduler=ms.task_scheduler.GradientBased(seed=seed if seed is not None else -1),
        )
    return {k: float(v) for k, v in profiler.get().items()}


def task_summary(tasks: list[Task], database) -> list[dict]:
    """Per task: name, weight, records, failures and best latency, from the database."""
    rows = []
    for task, records in zip(tasks, records_by_task(database, [t.mod for t in tasks])):
        secs = [run_seconds(r) for r in records]
        ok = [s for s in secs if s is not None]
        best = min(ok) if ok else None
        rows.append({"task": task.name, "weight": task.weight, "records": len(records),
                     "failed": len(records) - len(ok), "best_ms": best * 1e3 if best else None,
                     "gflops": task.flops / best / 1e9 if best and task.flops else None})
    return rows
