"""Measure a cost-model dataset: many candidates per task, slow ones as well as fast ones.

Each model gets its own MetaSchedule JSON database under ``WORKDIR/<model>``. Per task, the first
half of the budget samples the design space at random (``replay-trace``: programs of every
quality, which is what a cost model must learn to tell apart), the second half runs the
evolutionary search with stock XGBoost (the fast programs a tuner actually visits). Progress is
read back from the database, so an interrupted collection resumes where its records end.

The tasks are formed as ``fisched tune`` forms them (``frontend.default_pipeline``: prepacked
weights and NHWC convolutions on CPU targets; the register-tiled design space), so the dataset
holds the programs the tuner will be ranking. A model's folder records those choices and the
host, and a resumed collection keeps them (older folders: the model file's layouts, stock
rules, exact math).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..costmodel.cost_models import make_cost_model
from ..costmodel.library import learn as learn_workdir
from ..metaschedule.build import make_builder, start_workers
from ..metaschedule.kernels import check_kernels
from ..metaschedule.records import open_database, records_by_task
from ..metaschedule.target import host_info, num_cores
from ..models.frontend import load_model, model_name
from ..workdir import meta_fast_math, pipeline_choices
from .tune import (
    META_FILE,
    _make_progress_callback,
    check_meta,
    extract,
    read_meta,
    resolve_kernels,
    run_search,
    write_meta,
)

log = logging.getLogger("fisched")


def collect(models: list[str], workdir: str | Path, target, trials_per_task: int = 64,
            random_share: float = 0.5, seed: int = 0, progress: bool = True,
            prepack: bool | None = None, layout: str | None = None,
            kernels: str | None = None, learn: bool = False,
            library: str | Path | None = None) -> dict[str, int]:
    """Bring every task of every model up to ``trials_per_task`` records; returns counts.

    ``prepack``, ``layout`` and ``kernels`` as in ``fisched tune``: None takes a model folder's
    recorded choice, or the defaults for ``target`` in a new one; another choice than a
    folder's is refused. ``learn``: add each model's programs to this host's library
    (``fisched.costmodel.library``, under ``library`` or its default root) once its tasks are done.
    """
    if kernels is not None:
        check_kernels(kernels)
    pipeline = {k: v for k, v in (("prepack", prepack), ("layout", layout)) if v is not None}
    counts: dict[str, int] = {}
    cores = num_cores(target)
    builder = make_builder(cores)  # one set of workers for every search below
    workers = start_workers(builder, threads=cores)  # and one runner: each starts a process
    try:
        for spec in models:
            counts.update(_collect_model(spec, workdir, target, trials_per_task, random_share,
                                         seed, progress, workers, pipeline, kernels))
            if learn:
                mdir = Path(workdir) / model_name(spec)
                info = learn_workdir(mdir, host_info()["llvm_cpu"], library)
                log.info("library %s: %d programs", info["library"], info["programs"])
    finally:
        builder.close()
    return counts


def _collect_model(spec: str, workdir, target, trials_per_task: int, random_share: float,
                   seed: int, progress: bool, workers, pipeline: dict,
                   kernels: str | None) -> dict[str, int]:
    """One model of ``collect``: its tasks brought up to the budget; returns its count."""
    from tqdm import tqdm

    mdir = Path(workdir) / model_name(spec)
    # a collection resumes as it began; a choice other than the folder's is refused below
    meta = read_meta(mdir) if (mdir / META_FILE).exists() else {}
    model = load_model(spec, fast_math=meta_fast_math(meta) if meta else True,
                       **pipeline_choices(meta, target, **pipeline))
    mdir.mkdir(parents=True, exist_ok=True)
    check_meta(mdir, model, target)
    kernels = resolve_kernels(meta, kernels, mdir, target)
    write_meta(mdir, model, target, collect_trials_per_task=trials_per_task,
               random_share=random_share, seed=seed, kernels=kernels, host=host_info())
    tasks = extract(model, target)
    database = open_database(mdir)
    have = [len(r) for r in records_by_task(database, [t.mod for t in tasks])]
    bar = tqdm(total=trials_per_task * len(tasks), initial=min(sum(have),
               trials_per_task * len(tasks)), desc=f"collect {model.name}", unit="prog",
               disable=not progress)
    random_goal = int(round(trials_per_task * random_share))
    for i, task in enumerate(tasks):
        start = time.time()
        done = have[i]  # counted once above, then advanced by what each search measured
        for strategy, goal, per_iter in (("replay-trace", random_goal, 64),
                                         ("evolutionary", trials_per_task, 16)):
            if done >= goal:
                continue
            counter = _make_progress_callback([task], goal, done, [None], show=False)
            run_search([task], mdir, database, target, max_trials=goal - done,
                       per_iter=min(per_iter, goal - done), strategy=strategy,
                       cost_model=make_cost_model("xgb", num_cores(target), seed + i),
                       seed=seed + i, callbacks=[counter], builder=workers.builder,
                       runner=workers.runner(), kernels=kernels)
            done += counter.measured
        bar.update(max(0, min(done, trials_per_task) - min(have[i], trials_per_task)))
        log.info("%s %s: %d records (%.0f s)", model.name, task.name, done,
                 time.time() - start)
        have[i] = done
    bar.close()
    return {model.name: sum(have)}
