"""Stock XGBModel against FeatureImportanceModel on whole models, same budget, same seeds.

For each model and seed the arms run one after the other, their order alternating from seed to
seed (A B, B A, ...) so that drift of this shared machine hits both. Every run tunes into its own
fresh workdir, records its curve (wall time, trials, end-to-end estimate = sum of task weight x
best latency) after each measured batch, MetaSchedule's profile (search / build / run / cost
model seconds), and the measured latency of the compiled model. A finished run is never redone;
an interrupted one is moved aside and rerun, so every curve is one uninterrupted run.

Once both arms of a model and seed are finished, their compiled models and the reference are
timed again side by side, in alternating rounds (``final.json`` beside the arms): a run's own
timing comes minutes to hours after its partner's, and this shared machine has been seen to
slow everything, the reference included, by 40% for a whole measurement. The final latency ratio
in the summary is the side-by-side one where it exists. One such timing of a pair is still good
to only ~10% here (the same two BERT libraries gave 0.97 and 1.15 twenty minutes apart), so
``benchmarks/retime_pairs.py`` can time the pairs again (``<model>/retimes.json``); the summary
then takes, per seed, the median ratio over every timing made since the pair's ``final.json``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from ..costmodel.cost_models import make_cost_model
from ..costmodel.dataset import concat_datasets, host_name, load_dataset, task_host
from ..costmodel.fi_model import DEFAULT_PRIOR, FeatureImportanceModel, default_fi_model
from ..costmodel.importance import fit_selection
from ..costmodel.library import default_prior, learn, local_prior, shipped_prior
from ..errors import FischedError
from ..metaschedule.records import mean_seconds
from ..metaschedule.target import host_cpu, host_info, num_cores
from ..models.frontend import default_pipeline, load_model
from ..provenance import one_host, provenance
from ..tuning.compile import LIBRARY_FILE, compile_model
from ..tuning.measure import VMRunner, time_against_reference, time_side_by_side
from ..tuning.tune import (extract, model_settings, read_meta, resolve_kernels, trials_per_iter,
                           tune)
from ..workdir import (CURVE_FILE, META_FILE, RECORD_FILE, WORKLOAD_FILE, meta_kernels,
                       write_json)

RUN_FILE = "run.json"
PAIR_FILE = "final.json"
PAIR_BUDGET_S = 20.0  # seconds of timed runs per compiled model (and for the reference)
RETIME_FILE = "retimes.json"  # more side-by-side timings of a model's pairs (retime_pairs.py)


def run_files(workdir: str | Path) -> list[Path]:
    """Every finished run's ``run.json`` in an experiment folder
    (``<model>/seed<k>/<arm>/run.json``), in a stable order."""
    return sorted(Path(workdir).glob(f"*/seed*/*/{RUN_FILE}"))


def folder_runs(workdir: str | Path, arms: str | None = None
                ) -> tuple[str, str, list[tuple[dict, Path]]]:
    """An experiment folder's baseline and candidate arm (``arms`` as ``"base,arm"``, else its
    summary.json's) and its finished runs as (run.json contents, run folder) pairs."""
    root = Path(workdir)
    if arms:
        base, arm = arms.split(",")
    else:
        base, arm = json.loads((root / "summary.json").read_text())["arms"]
    return base, arm, [(json.loads(p.read_text()), p.parent) for p in run_files(root)]


def _curve_callback(curve: list, start: float):
    """Appends (wall seconds, trials so far) after every measured batch; the estimates are
    added from the records afterwards (``with_estimates``)."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class Curve(ms.measure_callback.PyMeasureCallback):
        def apply(self, task_scheduler, task_id, candidates, builder_results, runner_results):
            trials = (curve[-1]["trials"] if curve else 0) + len(runner_results)
            curve.append({"seconds": time.time() - start, "trials": trials})

    return Curve()


def task_records(workdir: Path, tasks: list) -> list[tuple[int | None, float | None]]:
    """(task index, mean seconds) of every record of ``workdir``'s database, in measurement
    order (MetaSchedule appends records as it measures them). The task is None for a workload
    none of ``tasks`` is (by structural hash), the seconds None for a failed build or run.
    Reads the JSON lines only: nothing in the workdir is touched."""
    from tvm_ffi import structural_hash

    task_of_hash = {int(structural_hash(t.mod)) % 2**64: i for i, t in enumerate(tasks)}
    workloads = [json.loads(line)[0] for line in (workdir / WORKLOAD_FILE).read_text().splitlines()
                 if line.strip()]
    task_of_workload = [task_of_hash.get(int(h) % 2**64) for h in workloads]
    records = []
    for line in (workdir / RECORD_FILE).read_text().splitlines():
        if line.strip():
            widx, rec = json.loads(line)  # rec: [trace, run_secs, target, args_info]
            records.append((task_of_workload[widx], mean_seconds(rec[1])))
    return records


def with_estimates(curve: list[dict], workdir: Path, tasks: list) -> list[dict]:
    """Add to every curve point the end-to-end estimate after its first ``trials`` records.

    The curve counts records in measurement order (``task_records``). The estimate (sum of
    task weight x best latency, ms) exists once every task has been tried; a task none of whose
    candidates ran (e.g. a gather whose random indices fall out of bounds) is left out of it,
    and ``tasks_ok`` says how many tasks it covers.
    """
    records = task_records(workdir, tasks)
    tried = [False] * len(tasks)
    best: list[float | None] = [None] * len(tasks)
    out, n = [], 0
    for point in curve:
        for task, secs in records[n:point["trials"]]:
            if task is None:
                continue
            tried[task] = True
            if secs is not None and (best[task] is None or secs < best[task]):
                best[task] = secs
        n = max(n, point["trials"])
        done = all(tried)
        out.append({"seconds": point["seconds"], "trials": point["trials"],
                    "estimate_ms": (sum(t.weight * b for t, b in zip(tasks, best)
                                        if b is not None) * 1e3 if done else None),
                    "tasks_ok": sum(b is not None for b in best)})
    return out


ARMS = ("xgb", "fi", "fi-prior", "fi-prior-host", "fi-prior-explore", "fi-prior-odds",
        "fi-prior-softplus", "fi-library", "random")
"""``xgb``: stock XGBModel. ``fi``: FeatureImportanceModel, cold. ``fi-prior``: the same,
warm-started from a prior dataset with the tuned model's own tasks left out, and its feature
selection fitted on that prior alone (transfer only, nothing of the tuned model in either).
``fi-prior-host``: fi-prior with each program's host descriptor as two more features
(``FeatureImportanceModel(host_features=True)``).
``fi-prior-explore``: fi-prior whose picks are sampled by the model's own odds rather than
always its top (``FeatureImportanceModel(explore=EXPLORE)``).
``fi-prior-odds``: fi-prior returning its scores as odds, ``exp(score)``, so MetaSchedule's
clip at 0 flattens none of them (``FeatureImportanceModel(score_map="odds")``).
``fi-prior-softplus``: fi-prior returning ``log(1 + exp(score))``, the clip made strictly
increasing: close to the clipped margins well above 0, a ranking where they are all below
(``score_map="softplus"``); one seed on znver4, worse than fi-prior (docs/results.md).
``fi-library``: what a user gets: the shipped selection, the shipped prior plus the
experiment's own library (``fisched.costmodel.library``: what this seed's earlier runs of the arm
learned), every task started from known schedules where there are some (``--reuse``); the run
then learns into that library, so a later model of the same seed starts from it.

``hold_out`` (``experiment``): models treated as a user's own, in nothing fisched ships. Their
tasks (by model name and by structure) leave the fi-prior arm's prior, and the fi-library arm's
too, whose selection is then fitted on what is left (as fi-prior's) and whose known schedules
come from the experiment's library only. Without it, a zoo model in the shipped data would start
fi-library from its own measured schedules, and a later model could not show what an earlier
one taught."""


# fi-prior-explore's temperature, below the pairwise model's own odds (1, fi_model.py): on the
# measured programs of held-out tasks, a round's two picks lose less to exploring at 0.5 than
# at 1 (benchmarks/explore_pool.py)
EXPLORE = 0.5
# the fi-prior variants that map the pairwise margin (``FeatureImportanceModel``'s score_map)
SCORE_MAP_ARMS = {"fi-prior-odds": "odds", "fi-prior-softplus": "softplus"}
# fi-prior and its variants: a prior without the tuned model's tasks, a selection fitted on it
PRIOR_ARMS = tuple(arm for arm in ARMS if arm.startswith("fi-prior"))
# the arms --hold-out changes
HELD_OUT_ARMS = (*PRIOR_ARMS, "fi-library")


def arm_settings(target) -> dict:
    """``load_model`` settings every arm's model (and a held-out model's tasks) is prepared
    with: fast math and the CPU defaults (``frontend.default_pipeline``)."""
    return {"fast_math": True, **default_pipeline(target)}


def _held_out_otherwise(run: dict, hold_out: tuple[str, ...]) -> bool:
    """Whether a finished run of an arm that reads the shipped data held out other models than
    ``hold_out`` (its prior would differ)."""
    return run["arm"] in HELD_OUT_ARMS and sorted(run.get("hold_out", [])) != sorted(hold_out)


def make_arm_model(arm: str, cores: int, seed: int, prior_ds=None, library=None):
    """``prior_ds``: fi-prior's prior; for fi-library, the shipped data with models held out
    (None: everything shipped, and the shipped selection). Every fi arm trains its prior in
    the run (no ``prior_cache``): the time ratio charges the training to each run, as it did
    before fisched kept trained priors."""
    if arm == "fi":
        return default_fi_model(cores, seed, prior=None)
    if arm in PRIOR_ARMS:
        return FeatureImportanceModel(selection=fit_selection(prior_ds), prior=prior_ds,
                                      seed=seed, nthread=cores, prior_cache=None,
                                      host_features=arm == "fi-prior-host",
                                      explore=EXPLORE if arm == "fi-prior-explore" else 0.0,
                                      score_map=SCORE_MAP_ARMS.get(arm, "margin"))
    if arm == "fi-library" and prior_ds is not None:
        local = local_prior(host_cpu(), library)
        return FeatureImportanceModel(
            selection=fit_selection(prior_ds),
            prior=prior_ds if local is None else concat_datasets([prior_ds, local]),
            seed=seed, nthread=cores, prior_cache=None)
    if arm == "fi-library":
        return FeatureImportanceModel(prior=default_prior(host_cpu(), DEFAULT_PRIOR, library),
                                      seed=seed, nthread=cores, prior_cache=None)
    return make_cost_model(arm, cores, seed)


def prior_for(prior: str | None, model, tasks: list, held: tuple[list, tuple] = ((), ())
              ) -> tuple[object, dict]:
    """The prior dataset (``prior``, or everything fisched ships: ``library.shipped_prior``;
    never a local library) minus every task of ``model`` and of the held-out models ``held``
    (their task modules, their names: ``held_out_tasks``), by structure and by model name."""

    if prior is not None and not Path(prior).exists():
        raise FischedError(f"the fi arms need a prior dataset: {prior} not found")
    full = load_dataset(prior) if prior else shipped_prior(DEFAULT_PRIOR)
    if full is None:
        raise FischedError("the fi arms need a prior dataset: fisched ships none here")
    kept, left_out = full.without_tasks([t.mod for t in tasks] + list(held[0]),
                                        (model.name, *held[1]))
    return kept, {"path": str(prior or "shipped"), "programs": kept.n_programs,
                  "tasks": len(np.unique(kept.task_id)), "left_out": left_out,
                  "hosts": sorted({host_name(task_host(full, t)) for t in full.tasks})}


def held_out_tasks(hold_out: tuple[str, ...], target) -> tuple[list, tuple[str, ...]]:
    """The task modules and model names of the models ``hold_out`` (specs), prepared as the
    arms prepare theirs."""
    mods, names = [], []
    for spec in hold_out:
        model = load_model(spec, threads=num_cores(target), **arm_settings(target))
        mods += [t.mod for t in extract(model, target)]
        names.append(model.name)
    return mods, tuple(names)


def run_arm(spec: str, arm: str, seed: int, trials: int, workdir: Path, target,
            prior: str | None = None, rounds: int = 2, library: Path | None = None,
            hold_out: tuple[str, ...] = ()) -> dict:
    """One uninterrupted tuning run plus the compiled model's latency; cached in run.json.

    The model is prepared with the CPU defaults (``frontend.default_pipeline``) and searched in
    the default design space. ``library``: the ``fi-library`` arm's library root (reused from,
    learned into); no other arm reads or writes a library. ``hold_out``: model specs held
    out of the shipped data (``ARMS``); a finished run of an arm that reads the shipped data
    (``HELD_OUT_ARMS``) made with other ones is refused.

    ``rounds``: the per-task batch is sized so that one round over every task takes
    1/rounds of the budget. With a single round the end-to-end estimate (defined once every task
    has a measurement) would only exist at the very end, and the cost model would never steer a
    second visit to a task.
    """
    done = workdir / RUN_FILE
    if done.exists():
        run = json.loads(done.read_text())
        if _held_out_otherwise(run, hold_out):
            raise FischedError(f"{workdir} was run holding out {run.get('hold_out', [])}, "
                               f"not {list(hold_out)}: use another --workdir")
        if run["curve"] and "tasks_ok" not in run["curve"][0]:  # from an older fisched
            model = load_model(spec, threads=num_cores(target),
                               **model_settings(read_meta(workdir)))
            run["curve"] = with_estimates(run["curve"], workdir, extract(model, target))
            write_json(done, run)
        return run
    _move_aside(workdir)
    workdir.mkdir(parents=True)
    model = load_model(spec, threads=num_cores(target), **arm_settings(target))
    tasks = extract(model, target)
    prior_ds, prior_info = None, None
    if arm in PRIOR_ARMS or (arm == "fi-library" and hold_out):
        held = held_out_tasks(tuple(h for h in hold_out if h != spec), target)
        # fi-library is what a user gets: the shipped data, whatever --prior says
        prior_ds, prior_info = prior_for(None if arm == "fi-library" else prior, model,
                                         tasks, held)
    curve: list[dict] = []
    start = time.time()  # the prior's (and selection's) training counts as tuning time
    cost_model = make_arm_model(arm, num_cores(target), seed, prior_ds, library)
    if prior_info is not None:
        prior_info["selection_dims"] = len(cost_model.selection.indices_)  # no host columns
        prior_info["local_programs"] = cost_model.prior_programs - prior_ds.n_programs
    per_iter = trials_per_iter(trials // rounds, len(tasks))
    result = tune(model, workdir, target, trials, cost_model=arm, seed=seed, progress=False,
                  num_trials_per_iter=per_iter, cost_model_obj=cost_model,
                  callbacks=(_curve_callback(curve, start),), reuse=arm == "fi-library",
                  library=library, reuse_shipped=not hold_out)
    curve = with_estimates(curve, workdir, tasks)
    compiled = compile_model(model, workdir, target)
    # the reference is what a user compares against, timed in the same rounds
    timed, error = time_against_reference(model, VMRunner(str(compiled)), "tuned", 5.0)
    latency = timed[0]
    meta, host = read_meta(workdir), host_info()
    reference = None if model.reference is None else {
        "name": model.reference.name, "latency_ms": timed[1].median_ms,
        "max_relative_error": error}
    run = {"model": model.name, "arm": arm, "seed": seed, "trials": trials,
           "trials_per_iter": per_iter, "tasks": len(tasks),
           "measured": result.trials_measured, "failed": result.failed,
           "tune_seconds": result.seconds, "profile_seconds": result.profile, "curve": curve,
           "latency_ms": latency.median_ms, "latency_spread_ms": list(latency.spread_ms),
           "reference": reference, "prior": prior_info,
           "cost_model": cost_model.settings() if arm.startswith("fi") else None,
           "reused": result.reused, "hold_out": list(hold_out), "pipeline": {k: meta.get(k) for k in
                                                  ("weights", "layout", "kernels", "math")},
           "host_cpu": host["llvm_cpu"], "host": host, "provenance": provenance(target)}
    if arm == "fi-library":
        learn(workdir, host["llvm_cpu"], library)
    write_json(done, run)
    shutil.rmtree(workdir / "logs", ignore_errors=True)
    return run


def _move_aside(workdir: Path) -> None:
    """An interrupted run's folder is kept under another name, never tuned into again."""
    if workdir.exists():
        workdir.rename(workdir.with_name(f"{workdir.name}.interrupted-{int(time.time())}"))


# what adopt_run copies beside run.json (the library too, where it is, to spare a compile)
ADOPTED_FILES = (CURVE_FILE, RECORD_FILE, WORKLOAD_FILE, META_FILE, LIBRARY_FILE)


def adopt_run(source: Path, workdir: Path, target, trials: int, rounds: int,
              hold_out: tuple[str, ...] = ()) -> bool:
    """Copy the finished run in ``source`` (an arm's folder in another experiment folder) to
    ``workdir``, so that a new candidate arm is compared against baseline runs already made
    instead of tuning them again. False if ``source`` holds no finished run. Refused unless it
    is what ``run_arm`` would make here now: measured on this host, on ``target``, with the
    model prepared and searched as today's defaults do, the same budget (``trials``, per-task
    batch of ``rounds``) and, for an arm that reads the shipped data, the same ``hold_out``.
    The copy's run.json names its source (``baseline_from``); the summary's ``hours_apart``
    then shows how far apart the arms ran, and its trials ratio is the figure machine speed
    cannot move."""
    if not (source / RUN_FILE).exists():
        return False
    run, meta = json.loads((source / RUN_FILE).read_text()), read_meta(source)
    if run.get("host_cpu") != host_cpu():
        raise FischedError(f"{source} was measured on {run.get('host_cpu')}, this host is "
                           f"{host_cpu()}: not a baseline here")
    was = {**model_settings(meta), "kernels": meta_kernels(meta), "target": meta.get("target")}
    now = {**arm_settings(target), "kernels": resolve_kernels({}, None, workdir, target),
           "target": str(target)}
    if was != now:
        raise FischedError(f"{source} was prepared or searched otherwise ({was}) than a run "
                           f"here would be ({now}): not a baseline here")
    if run["trials"] != trials or run["trials_per_iter"] != trials_per_iter(trials // rounds,
                                                                           run["tasks"]):
        raise FischedError(f"{source} was tuned with {run['trials']} trials, "
                           f"{run['trials_per_iter']} per task and round: not a baseline for "
                           f"--trials {trials} --rounds {rounds}")
    if _held_out_otherwise(run, hold_out):
        raise FischedError(f"{source} was run holding out {run.get('hold_out', [])}, not "
                           f"{list(hold_out)}: not a baseline here")
    _move_aside(workdir)
    workdir.mkdir(parents=True)
    for name in ADOPTED_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, workdir / name)
    # as given: a folder inside the repository stays a path a reader of the results can follow
    write_json(workdir / RUN_FILE, {**run, "baseline_from": str(source)})
    return True


def measure_pair(spec: str, seed_dir: Path, arms: tuple[str, str], target,
                 budget_s: float = PAIR_BUDGET_S) -> dict:
    """Both arms' compiled models and the reference timed in alternating rounds; cached in
    ``seed_dir/final.json``. A missing library (they are not committed) is compiled again from
    the arm's database."""
    done = seed_dir / PAIR_FILE
    if done.exists():
        return json.loads(done.read_text())
    meta = read_meta(seed_dir / arms[0])  # prepared as the arms were (a library may be rebuilt)
    model = load_model(spec, threads=num_cores(target), **model_settings(meta))
    runners = {}
    for arm in arms:
        library = seed_dir / arm / LIBRARY_FILE
        if not library.exists():
            library = compile_model(model, seed_dir / arm, target)
        runners[arm] = VMRunner(str(library))
    latency, error = time_side_by_side(model, runners, budget_s)
    pair = {"model": model.name, "arms": list(arms), "budget_s": budget_s, "order": "rotating",
            "latency": latency,
            "reference": None if model.reference is None else model.reference.name,
            "max_relative_error": error, "provenance": provenance(target)}
    write_json(done, pair)
    return pair


def retimes_of(model_dir: Path, seed: int, pair: dict) -> list[dict]:
    """The later side-by-side timings of ``pair`` (``measure_pair``'s result for ``seed``) in
    ``model_dir/retimes.json``: those of that seed taken after the pair's own timing, so a pair
    timed anew (its runs redone) does not inherit the timings of the libraries it replaced."""
    path = model_dir / RETIME_FILE
    if not path.exists():
        return []
    from datetime import datetime, timezone

    timed_at = datetime.fromisoformat(pair["provenance"]["date"])
    later = []
    for t in json.loads(path.read_text())["timings"]:
        at = datetime.fromisoformat(t["at"])  # written in UTC, as provenance dates are
        if t["seed"] == seed and at.replace(tzinfo=at.tzinfo or timezone.utc) >= timed_at:
            later.append(t)
    return later


def reach_point(curve: list[dict], target_ms: float, tasks_ok: int = 0) -> dict | None:
    """The first curve point whose estimate reached ``target_ms`` while covering at least
    ``tasks_ok`` tasks (so a run cannot look faster by missing a task); None if never."""
    for point in curve:
        if (point["estimate_ms"] is not None and point.get("tasks_ok", 0) >= tasks_ok
                and point["estimate_ms"] <= target_ms * (1 + 1e-9)):
            return point
    return None


def summarize(runs: list[dict], base: str = "xgb", arm: str = "fi",
              pairs_timed: dict | None = None) -> dict:
    """Per model: time-to-reach ratio and final latency ratio per seed, with their spread.
    ``pairs_timed``: (model, seed) -> ``measure_pair``'s result, with its later timings under
    ``"retimes"`` (``retimes_of``); where present, the final latencies are those timed side by
    side, the median over every timing of the pair (each run's own timing stays in ``*_solo``)."""
    pairs_timed = pairs_timed or {}
    out = {}
    for model in sorted({r["model"] for r in runs}):
        pairs = []
        for seed in sorted({r["seed"] for r in runs if r["model"] == model}):
            a = next((r for r in runs if (r["model"], r["seed"], r["arm"]) == (model, seed, base)),
                     None)
            b = next((r for r in runs if (r["model"], r["seed"], r["arm"]) == (model, seed, arm)),
                     None)
            if not a or not b or not a["curve"] or a["curve"][-1]["estimate_ms"] is None:
                continue
            last = a["curve"][-1]
            reach = reach_point(b["curve"], last["estimate_ms"], last.get("tasks_ok", 0))
            # the arm's first end-to-end estimate over as many tasks: it cannot reach the
            # baseline's final estimate earlier, whatever its cost model (with ``rounds=2``
            # about half the budget: every task has to be measured once first)
            first = reach_point(b["curve"], float("inf"), last.get("tasks_ok", 0))
            timings = [t for t in _timings(pairs_timed.get((model, seed), {}))
                       if base in t and arm in t]
            if timings:  # the ratio is the median of ratios; the latencies, medians of each
                ratios = [t[arm] / t[base] for t in timings]
                ratio = float(np.median(ratios))
                base_ms = float(np.median([t[base] for t in timings]))
                arm_ms = float(np.median([t[arm] for t in timings]))
            else:
                ratios, ratio = [], b["latency_ms"] / a["latency_ms"]
                base_ms, arm_ms = a["latency_ms"], b["latency_ms"]
            pairs.append({"seed": seed,
                          "time_ratio": reach["seconds"] / last["seconds"] if reach else None,
                          # machine speed cancels out of this one (the arms' runs may be hours
                          # apart), and so does the fi arm's extra prediction time
                          "trials_ratio": reach["trials"] / last["trials"] if reach else None,
                          "first_estimate_ratio":
                              first["seconds"] / last["seconds"] if first else None,
                          "hours_apart": _hours_apart(a, b),
                          "latency_ratio": ratio, "side_by_side": bool(timings),
                          "latency_ratios_timed": ratios,
                          "base_latency_ms": base_ms, "arm_latency_ms": arm_ms,
                          "latency_ratio_solo": b["latency_ms"] / a["latency_ms"]})
        tr = [p["time_ratio"] for p in pairs if p["time_ratio"] is not None]
        nr = [p["trials_ratio"] for p in pairs if p["trials_ratio"] is not None]
        fr = [p["first_estimate_ratio"] for p in pairs if p["first_estimate_ratio"] is not None]
        lr = [p["latency_ratio"] for p in pairs]
        refs = [r["reference"] for r in runs if r["model"] == model and r.get("reference")]
        # the reference as timed beside the arms' latencies in the table: side by side where
        # a pair was timed so, else in the runs' own timings
        side_refs = [t[p["reference"]] for (m, _), p in pairs_timed.items() if m == model
                     for t in _timings(p) if {p.get("reference"), base, arm} <= set(t)]
        ref_ms = side_refs or [x["latency_ms"] for x in refs]
        out[model] = {"seeds": pairs,
                      "reference": refs[0]["name"] if refs else None,
                      "reference_ms_median": float(np.median(ref_ms)) if ref_ms else None,
                      "time_ratio_median": float(np.median(tr)) if tr else None,
                      "time_ratio_range": [min(tr), max(tr)] if tr else None,
                      "trials_ratio_median": float(np.median(nr)) if nr else None,
                      "trials_ratio_range": [min(nr), max(nr)] if nr else None,
                      "first_estimate_ratio_median": float(np.median(fr)) if fr else None,
                      "reached": f"{len(tr)}/{len(pairs)}",
                      "latency_ratio_median": float(np.median(lr)) if lr else None,
                      "latency_ratio_range": [min(lr), max(lr)] if lr else None}
    return out


def _hours_apart(a: dict, b: dict) -> float | None:
    """Hours between two runs' ends (their provenance dates); None where one has no date. Arms
    run hours apart meet different machine speeds, which the time ratio does not survive."""
    from datetime import datetime

    try:
        ends = [datetime.fromisoformat(r["provenance"]["date"]) for r in (a, b)]
    except (KeyError, TypeError):
        return None
    return abs((ends[0] - ends[1]).total_seconds()) / 3600


def _timings(pair: dict) -> list[dict[str, float]]:
    """Every side-by-side timing of a pair as {name: median ms}, its ``final.json`` first."""
    first = {name: v["median_ms"] for name, v in pair.get("latency", {}).items()}
    return ([first] if first else []) + [dict(t["median_ms"]) for t in pair.get("retimes", [])]


def experiment(models: list[str], trials: int, seeds: int, workdir: str | Path, target,
               arms: tuple[str, str] = ("xgb", "fi-prior"), prior: str | None = None,
               rounds: int = 2, log=print, summarize_only: bool = False,
               time_pairs: bool = True, pair_budget_s: float = PAIR_BUDGET_S,
               hold_out: tuple[str, ...] = (), baseline_from: str | Path | None = None) -> dict:
    """Run (or resume) every model x seed x arm, alternating arm order by seed, and time each
    finished pair side by side (``measure_pair``). With ``summarize_only``, only the finished
    runs are read and summarised, nothing is tuned, and pairs are timed only if
    ``time_pairs`` (those without a ``final.json``). ``hold_out``: model specs held out of
    the shipped data (``ARMS``). ``baseline_from``: another experiment folder whose finished
    runs of the baseline arm (``arms[0]``) are copied in (``adopt_run``) instead of tuned
    again (not with ``summarize_only`` and not ``time_pairs``: that only reads)."""
    workdir = Path(workdir)
    if baseline_from is not None and not run_files(baseline_from):
        raise FischedError(f"--baseline-from {baseline_from}: no finished run there")
    earlier = [json.loads(p.read_text()) for p in run_files(workdir)]
    here = host_cpu()
    there = one_host(earlier, str(workdir))
    if there not in (None, here) and not (summarize_only and not time_pairs):
        # tuning or timing here would put this host's figures beside the other host's
        raise FischedError(f"{workdir} holds runs measured on {there}, this host is {here}: "
                           "use another --workdir (or only --summarize there)")
    runs = []
    timed: dict[tuple[str, int], dict] = {}  # (model name, seed) -> side-by-side timing
    # seed-major: an experiment stopped part-way has comparable pairs on every model
    for seed in range(seeds):
        for spec in models:
            order = arms if seed % 2 == 0 else arms[::-1]
            seed_dir = workdir / Path(spec).stem / f"seed{seed}"
            if (baseline_from is not None and (time_pairs or not summarize_only)
                    and not (seed_dir / arms[0] / RUN_FILE).exists()):
                source = Path(baseline_from) / seed_dir.relative_to(workdir) / arms[0]
                adopted = adopt_run(source, seed_dir / arms[0], target, trials, rounds,
                                    hold_out)
                log(f"{spec} seed {seed} {arms[0]}: "
                    + ("copied from " if adopted else "none to copy in ") + str(source))
            for arm in order:
                wd = seed_dir / arm
                finished = (wd / RUN_FILE).exists()
                if summarize_only and not finished:
                    continue
                log(f"{spec} seed {seed} {arm} ...")
                run = run_arm(spec, arm, seed, trials, wd, target, prior, rounds,
                              library=workdir / "library" / f"seed{seed}", hold_out=hold_out)
                log(f"  {run['latency_ms']:.3f} ms after {run['tune_seconds']:.0f} s")
                runs.append(run)
                if not finished:  # a new run: keep the partial results on disk
                    write_summary(workdir, runs, arms, trials, seeds, target, timed)
            if all((seed_dir / arm / RUN_FILE).exists() for arm in arms) and (
                    time_pairs or (seed_dir / PAIR_FILE).exists()):
                new = not (seed_dir / PAIR_FILE).exists()
                if new:
                    log(f"{spec} seed {seed}: timing both compiled models side by side ...")
                pair = measure_pair(spec, seed_dir, arms, target, pair_budget_s)
                pair = {**pair, "retimes": retimes_of(seed_dir.parent, seed, pair)}
                timed[(pair["model"], seed)] = pair
                log("  " + ", ".join(f"{k} {v['median_ms']:.3f} ms"
                                     for k, v in pair["latency"].items())
                    + (f" (+{len(pair['retimes'])} later timings)" if pair["retimes"] else ""))
                if new:
                    write_summary(workdir, runs, arms, trials, seeds, target, timed)
    summary, table = write_summary(workdir, runs, arms, trials, seeds, target, timed)
    return {"runs": runs, "summary": summary, "table": table}


def write_summary(workdir: Path, runs: list[dict], arms: tuple[str, str], trials: int,
                  seeds: int, target, timed: dict | None = None) -> tuple[dict, str]:
    """summary.json, summary.md and curves.png from the runs so far (rewritten after each run,
    so a stopped experiment still has its partial results on disk)."""
    summary = summarize(runs, *arms, pairs_timed=timed)
    # the host the runs were measured on, not the one summarising them
    (workdir / "summary.json").write_text(json.dumps(
        {"host_cpu": one_host(runs, str(workdir)), "arms": list(arms), "trials": trials,
         "seeds": seeds,
         "hold_out": sorted({h for r in runs for h in r.get("hold_out", [])}), "summary": summary,
         "provenance": provenance(target)}, indent=2))
    table = summary_table(summary, arms)
    (workdir / "summary.md").write_text(table + "\n")
    if runs:
        plot_curves(runs, workdir / "curves.png")
    return summary, table


def summary_table(summary: dict, arms: tuple[str, str]) -> str:
    base, cand = arms
    lines = [f"| model | {cand} time to {base}'s final (x) | trials to it (x) | "
             f"{cand}'s first estimate (x) | "
             f"final latency {cand}/{base} | {base} ms | {cand} ms | reference ms | "
             f"seeds reached | side-by-side timings |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, r: "-" if v is None else f"{v:.2f} ({r[0]:.2f}-{r[1]:.2f})"  # noqa: E731
    for model, s in summary.items():
        a = np.median([p["base_latency_ms"] for p in s["seeds"]]) if s["seeds"] else np.nan
        b = np.median([p["arm_latency_ms"] for p in s["seeds"]]) if s["seeds"] else np.nan
        ref = (f"{s['reference_ms_median']:.3f} ({s['reference']})"
               if s["reference_ms_median"] is not None else "-")
        lines.append(f"| {model} | {fmt(s['time_ratio_median'], s['time_ratio_range'])} | "
                     f"{fmt(s['trials_ratio_median'], s['trials_ratio_range'])} | "
                     f"{_num(s.get('first_estimate_ratio_median'))} | "
                     f"{fmt(s['latency_ratio_median'], s['latency_ratio_range'])} | "
                     f"{a:.3f} | {b:.3f} | {ref} | {s['reached']} | "
                     f"{', '.join(str(len(p['latency_ratios_timed'])) for p in s['seeds'])} |")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def plot_curves(runs: list[dict], path: str | Path) -> Path:
    """End-to-end estimate against wall time, per model, every seed of both arms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in runs})
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), squeeze=False)
    colors = {}
    for ax, model in zip(axes[0], models):
        for r in (r for r in runs if r["model"] == model):
            pts = [(p["seconds"], p["estimate_ms"]) for p in r["curve"] if p["estimate_ms"]]
            if not pts:
                continue
            color = colors.setdefault(r["arm"], f"C{len(colors)}")
            ax.plot(*zip(*pts), color=color, alpha=0.7, lw=1,
                    label=r["arm"] if r["seed"] == 0 else None)
        refs = [r["reference"] for r in runs if r["model"] == model and r.get("reference")]
        if refs:  # what the user would get without TVM, measured in the same runs
            ax.axhline(float(np.median([x["latency_ms"] for x in refs])), color="gray", ls="--",
                       lw=1, label=refs[0]["name"])
        ax.set_title(model)
        ax.set_xlabel("tuning wall time (s)")
        ax.set_ylabel("estimated latency (ms)")
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
