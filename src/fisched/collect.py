"""Measure a cost-model dataset: many candidates per task, slow ones as well as fast ones.

Each model gets its own MetaSchedule JSON database under ``WORKDIR/<model>``. Per task, the first
half of the budget samples the design space at random (``replay-trace``: programs of every
quality, which is what a cost model must learn to tell apart), the second half runs the
evolutionary search with stock XGBoost (the fast programs a tuner actually visits). Progress is
read back from the database, so an interrupted collection resumes where its records end.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .build import make_builder
from .cost_models import make_cost_model
from .frontend import load_model, model_name
from .records import open_database, records_by_task
from .target import num_cores
from .tune import (META_FILE, _make_progress_callback, check_meta, extract, meta_fast_math,
                   read_meta, run_search, write_meta)

log = logging.getLogger("fisched")


def collect(models: list[str], workdir: str | Path, target, trials_per_task: int = 64,
            random_share: float = 0.5, seed: int = 0, progress: bool = True) -> dict[str, int]:
    """Bring every task of every model up to ``trials_per_task`` records; returns counts."""
    counts: dict[str, int] = {}
    builder = make_builder(num_cores(target))  # one set of workers for every search below
    try:
        for spec in models:
            counts.update(_collect_model(spec, workdir, target, trials_per_task, random_share,
                                         seed, progress, builder))
    finally:
        builder.close()
    return counts


def _collect_model(spec: str, workdir, target, trials_per_task: int, random_share: float,
                   seed: int, progress: bool, builder) -> dict[str, int]:
    """One model of ``collect``: its tasks brought up to the budget; returns its count."""
    from tqdm import tqdm

    mdir = Path(workdir) / model_name(spec)
    # a collection resumes as it began (older ones were prepared without fast math)
    model = load_model(spec, fast_math=meta_fast_math(read_meta(mdir)) if
                       (mdir / META_FILE).exists() else True)
    mdir.mkdir(parents=True, exist_ok=True)
    check_meta(mdir, model, target)
    write_meta(mdir, model, target, collect_trials_per_task=trials_per_task,
               random_share=random_share, seed=seed)
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
                       seed=seed + i, callbacks=[counter], builder=builder)
            done += counter.measured
        bar.update(max(0, min(done, trials_per_task) - min(have[i], trials_per_task)))
        log.info("%s %s: %d records (%.0f s)", model.name, task.name, done,
                 time.time() - start)
        have[i] = done
    bar.close()
    return {model.name: sum(have)}
