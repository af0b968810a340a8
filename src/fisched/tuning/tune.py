"""Tune a model's tasks with MetaSchedule into a workdir's JSON database; resumable.

The workdir holds MetaSchedule's own ``database_*.json`` (the record of every measurement),
``fisched.json`` (what was tuned, and how), MetaSchedule's logs and, after compiling, the model
library and report. Running the same command on the same workdir resumes: the trial budget is a
total, and records already in the database count towards it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..costmodel.cost_models import make_cost_model
from ..costmodel.library import schedule_sources
from ..errors import FischedError
from ..metaschedule.build import intrinsics_for, make_builder, make_runner, start_workers
from ..metaschedule.kernels import DEFAULT_KERNELS, check_kernels, space_generator
from ..metaschedule.records import best_seconds, open_database, records_by_task, run_seconds
from ..metaschedule.target import describe, host_cpu, host_info, num_cores
from ..metaschedule.tasks import Task, extract
from ..models.frontend import Model
from ..workdir import (
    CURVE_FILE,
    META_FILE,
    RECORD_FILE,
    check_meta,
    discard_validated,
    load_tuned_model,
    locked,
    meta_fast_math,
    meta_kernels,
    meta_layout,
    meta_prepack,
    model_settings,
    read_curve,
    read_meta,
    write_json,
    write_meta,
)
from .reuse import warm_start

__all__ = ["META_FILE", "Task", "TuneResult", "check_meta", "extract", "load_tuned_model",
           "meta_fast_math", "meta_layout", "meta_prepack", "model_settings", "read_meta",
           "run_search", "tune", "write_meta"]  # the workdir/task names stay importable here

POPULATION_ENV = "FISCHED_SEARCH_POPULATION"
DEFAULT_POPULATION = 128
"""The evolutionary search's population per task unless told otherwise (MetaSchedule: 512).
Chosen by ``benchmarks/throughput.py --sweep`` (results/population.md, resnet18, 128 trials, one
seed, znver5): 512 bought no better end-to-end estimate than 128 with either cost model (stock
XGBModel 43.9 vs 37.0 ms, fi 31.0 vs 29.2 ms) at 2.5-2.9x fewer trials per hour; 256 was
within noise of 128 at 0.6-0.7x its rate; 64 was clearly worse with XGBModel (58.3 ms). Measured
at 6 candidates per task per round; long runs measure up to 64 per round from this population."""
log = logging.getLogger("fisched")


@dataclass
class TuneResult:
    tasks: list[Task]
    trials_before: int
    trials_measured: int
    failed: int
    seconds: float
    profile: dict[str, float] = field(default_factory=dict)
    set_aside: list[str] = field(default_factory=list)  # unreadable records moved aside
    reused: dict[str, int] = field(default_factory=dict)  # task -> known schedules started from


def trials_per_iter(trials: int, n_tasks: int, cap: int = 64) -> int:
    """Candidates measured per task per round: small enough that the first round-robin round
    reaches every task (MetaSchedule has no CPU fallback schedule, an untouched task stays a
    naive loop nest), at most ``cap`` (MetaSchedule's default)."""
    return max(1, min(cap, trials // max(1, n_tasks)))


def _make_progress_callback(tasks: list[Task], total: int, done: int, best: list, show: bool,
                            workdir: Path | None = None):
    from tqdm import tqdm
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class Progress(ms.measure_callback.PyMeasureCallback):
        """Progress bar: phase, trials done/total, end-to-end estimate from the best per task
        (weight x best latency, summed over the tasks measured so far), failures; and, with a
        ``workdir``, its tuning curve (``workdir.CURVE_FILE``, a point per batch, continued
        across resumes)."""

        def __init__(self) -> None:
            self.start = time.time()
            self.curve = read_curve(workdir) if workdir is not None and done else []
            self.seconds_before = self.curve[-1]["seconds"] if self.curve else 0.0
            self.host_cpu = host_cpu()  # the seconds are this machine's
            self.bar = tqdm(total=total, initial=min(done, total), unit="trial", disable=not show,
                            dynamic_ncols=True, desc="tuning")
            self.failed = 0
            self.measured = 0
            self.phase = "starting"
            self._show()

        def searching(self, task_id: int) -> None:
            """Called by the task scheduler when it starts searching ``task_id``."""
            self.phase = f"task {task_id + 1}/{len(tasks)} {tasks[task_id].name}"
            self._show()

        def _estimate(self) -> tuple[float, int]:
            """(weight x best latency summed over the tasks measured so far in ms, their
            count)."""
            tuned = sum(b is not None for b in best)
            est = sum(t.weight * b for t, b in zip(tasks, best) if b is not None) * 1e3
            return est, tuned

        def _show(self) -> None:
            est, tuned = self._estimate()
            self.bar.set_postfix_str(f"{self.phase}; est {est:.2f} ms ({tuned}/{len(tasks)} "
                                     f"tasks), {self.failed} failed")

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
            self._show()
            if workdir is not None:
                est, tuned = self._estimate()
                self.curve.append({"trials": done + self.measured,
                                   "seconds": self.seconds_before + time.time() - self.start,
                                   "estimate_ms": est if tuned == len(tasks) else None,
                                   "tasks_tuned": tuned})
                write_json(workdir / CURVE_FILE, {"host_cpu": self.host_cpu,
                                                  "points": self.curve})

    return Progress()


def pick_by_gradient(history: dict[int, list[float]], weights: dict[int, float], alpha: float,
                     window: int, rng) -> int:
    """MetaSchedule's ``GradientBased`` choice among the tasks alive: the largest weighted
    gradient of a task's best latency (``history``: best-so-far in ms after each of its joins,
    1e9 while nothing ran), ``alpha`` x its slope over the last ``window`` joins plus
    ``1 - alpha`` x best / joins; tasks without a valid time score -1e9; all equal: at random."""
    grads = []
    for task_id, hist in history.items():
        if not hist or hist[-1] >= 1e9:
            grads.append(-1e9)
            continue
        best, n = hist[-1], len(hist)
        g1 = (hist[n - 1 - window] - best) / window if n >= 1 + window else 0.0
        grads.append((alpha * g1 + (1 - alpha) * best / n) * weights[task_id])
    ids = list(history)
    if max(grads) == min(grads):
        return ids[rng.randrange(len(ids))]
    return ids[grads.index(max(grads))]


def _make_task_scheduler_class():
    """``JoinEachBatch``, defined on first use (MetaSchedule is imported lazily)."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class JoinEachBatch(ms.task_scheduler.PyTaskScheduler):
        """MetaSchedule's ``GradientBased`` task scheduler, joining each batch as it is sent.

        The stock scheduler joins the first round's batches only after every task has been
        searched and built, so no record reaches the database (and no progress shows) for the
        whole first round, and a kill in it loses the round. This one joins the task it sent last
        before picking the next, so each batch's records (MeasureCallbacks: database, cost
        model, progress) land before the next search starts. The pick is GradientBased's: one
        round robin, then the task with the largest weighted gradient of its best latency
        (``alpha``, ``window_size`` as in MetaSchedule; ties drawn at random). Joining at once
        also keeps the runner's timing off the cores the next search uses.

        ``time_limit`` (seconds from the run's first pick) ends the run at the first pick past
        it, but never inside the first round: a task never searched would stay a naive loop nest.
        """

        def __init__(self, alpha: float = 0.2, window_size: int = 3, seed: int | None = None,
                     on_pick=None, time_limit: float | None = None) -> None:
            import random

            self.time_limit = time_limit
            self._deadline = None
            self.alpha = alpha
            self.window_size = window_size
            self.rng = random.Random(seed)
            self.on_pick = on_pick
            self._run = None  # the first task record of the run being scheduled
            self._round_robin = 0
            self._history: list[list[float]] = []  # best ms so far (1e9: none ran) per join

        def _join(self, task_id: int) -> None:
            results = self._outer().join_running_task(task_id)
            hist = self._history[task_id]
            best = hist[-1] if hist else None
            for res in results:
                secs = sorted(float(x) for x in res.run_secs) if res.run_secs else []
                ms = secs[len(secs) // 2] * 1e3 if res.error_msg is None and secs else 1e9
                best = ms if best is None else min(best, ms)
            if best is not None:
                hist.append(best)

        def next_task_id(self) -> int:
            records = self._outer().tasks_
            n = len(records)
            if self._run is None or not records[0].same_as(self._run):
                # first call of a tuning run (``tune`` makes new task records each time, so an
                # object reused for another run starts over)
                self._run = records[0]
                self._deadline = (None if self.time_limit is None
                                  else time.monotonic() + self.time_limit)
                self._round_robin = 0
                self._history = [[] for _ in range(n)]
            for i, rec in enumerate(records):
                if rec.runner_futures is not None:
                    self._join(i)
            if self._round_robin < n:
                task_id = self._round_robin
                self._round_robin += 1
            elif self._deadline is not None and time.monotonic() >= self._deadline:
                return -1
            else:
                alive = [i for i, rec in enumerate(records) if not rec.is_terminated]
                if not alive:
                    return -1
                task_id = pick_by_gradient(
                    {i: self._history[i] for i in alive},
                    {i: float(records[i].task_weight) for i in alive},
                    self.alpha, self.window_size, self.rng)
            if self.on_pick is not None:
                self.on_pick(task_id)
            return task_id

    return JoinEachBatch


_TASK_SCHEDULER = None


def make_task_scheduler(seed: int | None, on_pick=None, time_limit: float | None = None):
    """fisched's task scheduler (``JoinEachBatch``); ``on_pick(task_id)`` hears each pick;
    ``time_limit`` seconds end the run after its first round."""
    global _TASK_SCHEDULER
    if _TASK_SCHEDULER is None:
        _TASK_SCHEDULER = _make_task_scheduler_class()
    return _TASK_SCHEDULER(seed=seed, on_pick=on_pick, time_limit=time_limit)


def tune(model: Model, workdir: str | Path, target, trials: int, cost_model: str = "xgb",
         seed: int | None = 0, num_trials_per_iter: int | None = None, progress: bool = True,
         rpc_tracker: str | None = None, rpc_key: str | None = None,
         cost_model_obj=None, strategy: str = "evolutionary",
         callbacks: tuple = (), population: int | None = None, builder=None,
         task_scheduler=None, time_limit: float | None = None,
         kernels: str | None = None, reuse: bool = False,
         library: str | Path | None = None, reuse_shipped: bool = True) -> TuneResult:
    """Tune ``model`` until the workdir's database holds ``trials`` records for its tasks, or
    for ``time_limit`` seconds of this run (after its first round), whichever comes first.

    ``population`` is the evolutionary search's per task (``search_strategy``); ``builder`` and
    ``task_scheduler`` replace fisched's (benchmarks pass MetaSchedule's stock ones).
    ``kernels`` is the design space (``fisched.metaschedule.kernels``): None resumes a workdir with the one it
    was tuned with and starts a new one with ``DEFAULT_KERNELS``; naming the other one of a
    workdir's is refused (its records would come from two searches).
    ``reuse``: a task with no record yet starts from the best known schedules of structurally
    equal tasks in this host's library (under ``library``, else the default root) and the
    shipped one, in the same design space (``library.schedule_sources``, ``warm_start``;
    measured here, they count as trials). Off by default: a comparison of cost models needs
    every task to start from nothing. Not with an RPC device. ``reuse_shipped=False`` starts
    from the host's library only (an experiment that holds models out of the shipped data).
    """
    if time_limit is not None and time_limit <= 0:
        raise FischedError(f"--time-limit must be positive, got {time_limit}")
    if time_limit is not None and task_scheduler is not None:
        raise FischedError("a time limit needs fisched's task scheduler")
    if trials <= 0:
        raise FischedError(f"--trials must be positive, got {trials}")
    if kernels is not None:
        check_kernels(kernels)
    workdir = Path(workdir)
    with locked(workdir):
        return _tune_locked(model, workdir, target, trials, cost_model, seed,
                            num_trials_per_iter, progress, rpc_tracker, rpc_key, cost_model_obj,
                            strategy, callbacks, population, builder, task_scheduler, time_limit,
                            kernels, reuse, library, reuse_shipped)


def _tune_locked(model, workdir, target, trials, cost_model, seed, num_trials_per_iter,
                 progress, rpc_tracker, rpc_key, cost_model_obj, strategy, callbacks,
                 population, builder, task_scheduler, time_limit, kernels, reuse,
                 library, reuse_shipped) -> TuneResult:
    meta = check_meta(workdir, model, target)
    kernels = resolve_kernels(meta, kernels, workdir, target)
    cores = num_cores(target)
    own_builder = builder is None
    builder = builder or make_builder(cores)
    # the workers start while the tasks are extracted (unless the workdir looks finished)
    workers = (start_workers(builder, rpc_tracker=rpc_tracker, rpc_key=rpc_key, threads=cores)
               if _records_on_file(workdir) < trials else None)
    try:
        tasks = extract(model, target)
        set_aside: list[str] = []
        database = open_database(workdir, set_aside)
        reused, begun = {}, time.time()  # the warm start's measurements are tuning time too
        if reuse and rpc_tracker is None:
            if workers:  # the warm start times known schedules in this process
                workers.wait()
            with intrinsics_for(target):  # a known schedule may hold a tensorize step
                shipped = {} if reuse_shipped else {"shipped": None}
                reused = warm_start(tasks, database, target,
                                    schedule_sources(host_cpu(), kernels, library, **shipped))
        existing = records_by_task(database, [t.mod for t in tasks])
        done = sum(len(r) for r in existing)
        # a resumed run's first round visits the tasks with no record yet first: with a small
        # budget left, round robin in model order could end before reaching them, and a task
        # never measured compiles as a naive loop nest
        order = sorted(range(len(tasks)), key=lambda i: len(existing[i]) > 0)
        tasks = [tasks[i] for i in order]
        best = [best_seconds(existing[i]) for i in order]
        if population is None and meta and done:
            # a run resumes as it began (fisched before recording it used MetaSchedule's 512)
            population = meta.get("population", 512)
        write_meta(workdir, model, target, trials=trials, cost_model=cost_model, seed=seed,
                   population=resolve_population(population), kernels=kernels,
                   host=host_info() if rpc_tracker is None else {"rpc_key": rpc_key})
        remaining = trials - done
        log.info("%s: %d tasks, target %s; %d of %d trials already in %s", model.name, len(tasks),
                 describe(target), done, trials, workdir)
        # the warm start's records (``reused``: how many it committed per task) are this run's
        # trials; the rest the workdir held before it
        warm = sum(reused.values())
        before = done - warm
        if remaining <= 0:
            return TuneResult(tasks, before, warm, 0, time.time() - begun, set_aside=set_aside,
                              reused=reused)

        discard_validated(workdir)  # picks among the old records; the new ones may beat them
        per_iter = num_trials_per_iter or trials_per_iter(remaining, len(tasks))
        callback = _make_progress_callback(tasks, trials, done, best, progress, workdir)
        model_obj = cost_model_obj or make_cost_model(cost_model, cores, seed)
        profile = run_search(tasks, workdir, database, target, max_trials=remaining,
                             per_iter=per_iter, strategy=strategy, cost_model=model_obj, seed=seed,
                             callbacks=[callback, *callbacks], rpc_tracker=rpc_tracker,
                             rpc_key=rpc_key,
                             builder=builder, runner=workers and workers.runner(),
                             task_scheduler=task_scheduler, population=population,
                             time_limit=time_limit, kernels=kernels)
        callback.bar.close()
        return TuneResult(tasks, before, warm + callback.measured, callback.failed,
                          time.time() - begun, profile, set_aside, reused)
    finally:
        if own_builder:
            builder.close()


def _records_on_file(workdir: Path) -> int:
    """Lines in the workdir's record file (any task's, cut ones too): a cheap upper bound of
    its records, known before the tasks are extracted."""
    path = workdir / RECORD_FILE
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def resolve_kernels(meta: dict, kernels: str | None, workdir: Path, target) -> str:
    """The design space a run gets: a resumed workdir's own (``meta_kernels``; naming the
    other is refused), else ``kernels``, else ``DEFAULT_KERNELS`` on CPU (``llvm``) targets and
    ``stock`` elsewhere (the rule is for CPUs)."""
    if meta:
        recorded = meta_kernels(meta)
        if kernels is not None and kernels != recorded:
            raise FischedError(f"workdir {workdir} was tuned with --kernels {recorded}: pass "
                               f"--kernels {recorded} or use another --workdir")
        return recorded
    if kernels is not None:
        return kernels
    return DEFAULT_KERNELS if target.kind.name == "llvm" else "stock"


def _quiet_console(level: int) -> None:
    """MetaSchedule logs everything to the console at INFO; keep its files, tame the console."""
    for handler in logging.getLogger("tvm.s_tir.meta_schedule").handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(level)


def resolve_population(population: int | None = None) -> int:
    """The evolutionary population a search gets: ``population``, else $FISCHED_SEARCH_POPULATION,
    else ``DEFAULT_POPULATION``; a clear error for values below 2."""
    value = population if population is not None else os.environ.get(POPULATION_ENV)
    if value in (None, ""):
        return DEFAULT_POPULATION
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 2:
        where = "--population" if population is not None else f"${POPULATION_ENV}"
        raise FischedError(f"{where} must be an integer of at least 2, got {value!r}")
    return size


def search_strategy(strategy, population: int | None = None):
    """MetaSchedule's search strategy ``strategy`` (a name or an object); for the evolutionary
    search, with ``population`` candidates per task, else $FISCHED_SEARCH_POPULATION when that
    is set (the test suite sets 64 so that its tiny tunes take seconds), else
    ``DEFAULT_POPULATION``. Each search round samples and mutates the whole population four
    times, which was 80% of a short tuning run's time at MetaSchedule's 512. The random samples
    each round must hold (``init_min_unmeasured``, 50 of 512) shrink with the population.
    """
    if strategy != "evolutionary":
        return strategy
    size = resolve_population(population)
    from tvm.s_tir import meta_schedule as ms

    log.info("evolutionary search population %d", size)
    return ms.search_strategy.EvolutionarySearch(
        population_size=size, init_min_unmeasured=max(2, min(50, size * 50 // 512)))


def run_search(tasks: list[Task], workdir: Path, database, target, *, max_trials: int,
               per_iter: int, strategy: str, cost_model, seed: int | None, callbacks: list,
               max_trials_per_task: int | None = None, rpc_tracker: str | None = None,
               rpc_key: str | None = None, builder=None, runner=None,
               task_scheduler=None, population: int | None = None,
               time_limit: float | None = None,
               kernels: str = DEFAULT_KERNELS) -> dict[str, float]:
    """One MetaSchedule ``tune_tasks`` call over ``tasks``, committing into ``database``.

    ``builder``, ``runner`` and ``task_scheduler`` default to fisched's (``make_builder``,
    ``make_runner``, ``make_task_scheduler`` with ``time_limit``); a builder made here is
    closed on return. ``kernels`` is the design space (``kernels.space_generator``).

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
    chosen = search_strategy(strategy, population)  # each context's clone() copies it
    with intrinsics_for(target):
        space = space_generator(target, tasks[0].mod, kernels)  # each context's clone() copies it
        contexts = [
            ms.TuneContext(mod=t.mod, target=target, space_generator=space,
                           search_strategy=chosen, task_name=t.name, logger=lg, rand_state=rs,
                           num_threads=cores).clone()
            for t, lg, rs in zip(tasks, loggers, ms.utils.fork_seed(seed, n=len(tasks)))
        ]
    own_builder = builder is None
    builder = builder or make_builder(cores)
    listeners = [c for c in callbacks if hasattr(c, "searching")]

    def on_pick(task_id: int) -> None:
        for listener in listeners:
            listener.searching(task_id)

    try:
        with ms.Profiler() as profiler:
            ms.tune_tasks(
                tasks=contexts, task_weights=[t.weight for t in tasks], work_dir=str(workdir),
                max_trials_global=max_trials, max_trials_per_task=max_trials_per_task,
                num_trials_per_iter=per_iter, builder=builder,
                runner=runner or make_runner(rpc_tracker=rpc_tracker, rpc_key=rpc_key,
                                              threads=cores),
                database=database, cost_model=cost_model,
                measure_callbacks=[*ms.measure_callback.MeasureCallback.create("default"),
                                   *callbacks],
                task_scheduler=task_scheduler or make_task_scheduler(seed, on_pick, time_limit),
            )
    finally:
        if own_builder:
            builder.close()
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
