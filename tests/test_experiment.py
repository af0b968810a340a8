"""The experiment driver: alternating arms, cached runs, a summary with ratios."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fisched.errors import FischedError
from fisched.study.experiment import reach_point, summarize, summary_table


def test_time_to_reach_and_summary():
    base = {"model": "m", "seed": 0, "arm": "xgb", "latency_ms": 10.0,
            "curve": [{"seconds": 10, "trials": 4, "estimate_ms": None},
                      {"seconds": 20, "trials": 8, "estimate_ms": 12.0},
                      {"seconds": 40, "trials": 12, "estimate_ms": 9.0}]}
    arm = {"model": "m", "seed": 0, "arm": "fi", "latency_ms": 8.0,
           "curve": [{"seconds": 10, "trials": 4, "estimate_ms": 11.0},
                     {"seconds": 25, "trials": 8, "estimate_ms": 8.5}]}
    assert reach_point(arm["curve"], 9.0)["seconds"] == 25
    assert reach_point(arm["curve"], 5.0) is None
    # an estimate that leaves out a task the baseline covers does not count as reaching it
    partial = [{"seconds": 5, "trials": 4, "estimate_ms": 1.0, "tasks_ok": 2},
               {"seconds": 30, "trials": 8, "estimate_ms": 8.0, "tasks_ok": 3}]
    assert reach_point(partial, 9.0, tasks_ok=3)["seconds"] == 30
    s = summarize([base, arm])["m"]
    assert s["time_ratio_median"] == 25 / 40 and s["trials_ratio_median"] == 8 / 12
    # the fi arm could not have reached it before its first estimate, a quarter of the way
    assert s["first_estimate_ratio_median"] == 10 / 40
    assert s["seeds"][0]["hours_apart"] is None  # no provenance: unknown, not zero
    base["provenance"] = {"date": "2026-11-24T20:00:00+00:00"}
    arm["provenance"] = {"date": "2026-11-24T21:30:00+00:00"}
    assert summarize([base, arm])["m"]["seeds"][0]["hours_apart"] == 1.5
    assert s["latency_ratio_median"] == 0.8 and s["reached"] == "1/1"
    # a side-by-side timing of both compiled models replaces each run's own
    side = {("m", 0): {"latency": {"xgb": {"median_ms": 10.0}, "fi": {"median_ms": 9.0},
                                   "ort": {"median_ms": 4.0}}, "reference": "ort"}}
    base["reference"] = {"name": "ort", "latency_ms": 5.0}
    assert summarize([base, arm])["m"]["reference_ms_median"] == 5.0
    s = summarize([base, arm], pairs_timed=side)["m"]
    assert s["latency_ratio_median"] == 0.9 and s["seeds"][0]["latency_ratio_solo"] == 0.8
    assert s["reference_ms_median"] == 4.0  # timed beside the latencies the table shows
    assert s["seeds"][0]["side_by_side"] and s["seeds"][0]["arm_latency_ms"] == 9.0
    # later timings of the pair: the seed's ratio, latencies and reference are medians over all
    side[("m", 0)]["retimes"] = [{"median_ms": {"xgb": 10.0, "fi": 9.5, "ort": 5.0}},
                                 {"median_ms": {"xgb": 10.0, "fi": 9.8, "ort": 6.0}}]
    s = summarize([base, arm], pairs_timed=side)["m"]
    assert s["latency_ratio_median"] == pytest.approx(0.95)
    assert s["seeds"][0]["latency_ratios_timed"] == pytest.approx([0.9, 0.95, 0.98])
    assert s["seeds"][0]["arm_latency_ms"] == 9.5 and s["reference_ms_median"] == 5.0
    table = summary_table(summarize([base, arm], pairs_timed=side), ("xgb", "fi"))
    assert "| m | 0.62 (0.62-0.62) | 0.67 (0.67-0.67) | 0.25 | 0.95 (0.95-0.95) |" in table
    assert table.splitlines()[-1].endswith("| 1/1 | 3 |")


def test_only_later_timings_of_the_same_seed_extend_a_pair(tmp_path):
    from fisched.study.experiment import RETIME_FILE, retimes_of

    pair = {"provenance": {"date": "2026-11-24T23:17:28+00:00"}}
    assert retimes_of(tmp_path, 0, pair) == []
    timings = [{"seed": 0, "at": "2026-11-24 23:10:00", "ratio": 1.5},  # an earlier library
               {"seed": 0, "at": "2026-11-24 23:45:56", "ratio": 0.9},  # naive UTC, as of old
               {"seed": 1, "at": "2026-11-24T23:46:00+00:00", "ratio": 1.1},
               {"seed": 0, "at": "2026-11-25T00:10:00+00:00", "ratio": 1.0}]
    (tmp_path / RETIME_FILE).write_text(json.dumps({"budget_s": 20.0, "timings": timings}))
    assert [t["ratio"] for t in retimes_of(tmp_path, 0, pair)] == [0.9, 1.0]
    assert [t["ratio"] for t in retimes_of(tmp_path, 1, pair)] == [1.1]


@pytest.mark.slow
def test_experiment_cli_runs_both_arms_and_resumes(tiny_onnx, tmp_path, capsys):
    from fisched.cli import main

    wd = tmp_path / "exp"
    args = ["experiment", str(tiny_onnx), "--trials", "6", "--seeds", "1", "--arms",
            "xgb,fi-prior", "--workdir", str(wd), "--pair-budget", "0.5"]
    assert main(args) == 0
    runs = {p.parent.name: json.loads(p.read_text()) for p in wd.rglob("run.json")}
    assert set(runs) == {"xgb", "fi-prior"}
    # warm-started from the shipped dataset, none of whose tasks is this model's
    prior = runs["fi-prior"]["prior"]
    assert prior["programs"] > 1000 and prior["left_out"] == []
    # its selection is fitted on that prior alone, not the shipped one fitted on every model
    assert runs["fi-prior"]["cost_model"]["columns"] == prior["selection_dims"]
    from fisched.costmodel.fi_model import DEFAULT_SELECTION
    from fisched.costmodel.importance import FeatureSelection
    from fisched.metaschedule.target import host_info

    assert prior["selection_dims"] != len(FeatureSelection.load(DEFAULT_SELECTION).indices_)
    for run in runs.values():
        assert run["host_cpu"] == host_info()["llvm_cpu"] and run["reused"] == {}
        assert run["pipeline"] == {"weights": "prepacked", "layout": "nhwc",
                                   "kernels": "register-tiled", "math": "fast"}
        assert run["measured"] >= 6 and run["latency_ms"] > 0
        assert run["reference"]["name"] == "onnxruntime"
        assert run["reference"]["latency_ms"] > 0 and run["reference"]["max_relative_error"] < 1e-4
        assert run["curve"][-1]["trials"] == run["measured"]
        assert {"seconds", "trials", "estimate_ms", "tasks_ok"} <= set(run["curve"][0])
        last = run["curve"][-1]  # estimates rebuilt from the records, every task covered
        assert last["estimate_ms"] > 0 and last["tasks_ok"] == run["tasks"]
    pair = json.loads((wd / "tiny" / "seed0" / "final.json").read_text())
    assert set(pair["latency"]) == {"xgb", "fi-prior", "onnxruntime"}
    assert pair["max_relative_error"] < 1e-4
    summary = json.loads((wd / "summary.json").read_text())["summary"]["tiny"]
    assert summary["seeds"][0]["side_by_side"]
    assert summary["latency_ratio_median"] == pytest.approx(
        pair["latency"]["fi-prior"]["median_ms"] / pair["latency"]["xgb"]["median_ms"])
    assert (wd / "curves.png").exists() and (wd / "summary.md").exists()
    # benchmarks/headroom.py re-reads the databases: its estimates are the curves' last ones,
    # and the best of the pair (and of everything known) is never slower than either arm
    (row,) = _benchmark("headroom").model_headroom(
        [(r, wd / "tiny" / "seed0" / arm) for arm, r in runs.items()], [], "xgb", "fi-prior")
    assert row["base_ms"] == pytest.approx(runs["xgb"]["curve"][-1]["estimate_ms"])
    assert row["arm_ms"] == pytest.approx(runs["fi-prior"]["curve"][-1]["estimate_ms"])
    assert row["known_best_ratio"] <= row["pair_best_ratio"] <= min(1.0, row["arm_ratio"])
    mtimes = {p: p.stat().st_mtime for p in [*wd.rglob("run.json"), *wd.rglob("final.json")]}
    assert main(args) == 0  # finished runs (and their side-by-side timing) are not redone
    assert all(p.stat().st_mtime == m for p, m in mtimes.items())
    final = wd / "tiny" / "seed0" / "final.json"
    final.unlink()
    assert main([*args, "--summarize"]) == 0 and not final.exists()  # reads, never times
    assert main([*args, "--time-pairs"]) == 0 and final.exists()  # times, never tunes
    assert all(p.stat().st_mtime == m for p, m in mtimes.items() if p.name == "run.json")
    # another candidate against the same baseline runs: xgb's is copied in, not tuned again,
    # and only from a folder tuned with the same budget
    wd2 = tmp_path / "exp2"
    other = ["experiment", str(tiny_onnx), "--seeds", "1", "--arms", "xgb,random",
             "--workdir", str(wd2), "--baseline-from", str(wd), "--pair-budget", "0.5"]
    assert main([*other, "--trials", "8"]) == 2 and not (wd2 / "tiny").exists()
    source = wd / "tiny" / "seed0" / "xgb"
    (source / "model.so").unlink()  # the pair's timing compiles it again from the records
    assert main([*other, "--trials", "6"]) == 0
    copied = wd2 / "tiny" / "seed0" / "xgb"
    run = json.loads((copied / "run.json").read_text())
    assert run.pop("baseline_from") == str(source) and run == runs["xgb"]
    for name in ("database_tuning_record.json", "database_workload.json", "fisched.json"):
        assert (copied / name).read_bytes() == (source / name).read_bytes()
    mtime = (copied / "run.json").stat().st_mtime
    assert main([*other, "--trials", "6"]) == 0  # copied once, never again
    assert (copied / "run.json").stat().st_mtime == mtime
    assert json.loads((wd2 / "tiny" / "seed0" / "random" / "run.json").read_text())["measured"] >= 6
    pair = json.loads((wd2 / "tiny" / "seed0" / "final.json").read_text())
    assert set(pair["latency"]) == {"xgb", "random", "onnxruntime"}
    capsys.readouterr()


def test_the_prior_leaves_out_the_tuned_model_and_the_held_out_ones(tmp_path):
    from dataclasses import replace
    from types import SimpleNamespace

    from test_library import _dataset

    from fisched.costmodel.dataset import concat_datasets
    from fisched.study.experiment import prior_for

    parts = []
    for k, name in enumerate(("a", "b", "c")):
        part = _dataset(2, 3, "rocketlake", seed=k)
        parts.append(replace(part, tasks=[{**t, "model": name} for t in part.tasks]))
    path = tmp_path / "prior.npz"
    concat_datasets(parts).save(path)
    def models(ds):  # subset() keeps the whole task table: read the models of the programs
        return {ds.tasks[i]["model"] for i in np.unique(ds.task_id)}

    kept, info = prior_for(str(path), SimpleNamespace(name="a"), [], ([], ("b",)))
    assert models(kept) == {"c"} and info["programs"] == kept.n_programs == 6
    assert sorted(info["left_out"]) == ["a/t0", "a/t1", "b/t0", "b/t1"]
    kept, info = prior_for(str(path), SimpleNamespace(name="a"), [])  # nothing held out
    assert models(kept) == {"b", "c"}


@pytest.mark.slow
def test_the_fi_library_arm_starts_a_later_model_from_what_an_earlier_one_learned(tiny_onnx,
                                                                                  tmp_path,
                                                                                  target):
    import shutil

    from fisched.costmodel.library import local_prior
    from fisched.metaschedule.target import host_cpu
    from fisched.study.experiment import run_arm

    twin = tmp_path / "twin.onnx"  # the same tasks under another model name
    shutil.copy(tiny_onnx, twin)
    wd = tmp_path / "exp"
    library = wd / "library" / "seed0"  # where experiment() keeps seed 0's library
    # what experiment() runs for this arm, model after model, without the xgb arm beside it
    # (the CLI test checks that the other arms read no library: their `reused` is empty)
    first = run_arm(str(tiny_onnx), "fi-library", 0, 4, wd / "tiny" / "fi-library", target,
                    library=library)
    held = (str(tiny_onnx), str(twin))  # the second as in --hold-out: both are the user's own
    second = run_arm(str(twin), "fi-library", 0, 4, wd / "twin" / "fi-library", target,
                     library=library, hold_out=held)
    assert first["reused"] == {} and first["prior"] is None  # everything shipped, as is
    assert second["reused"]  # started from the first model's schedules
    assert second["hold_out"] == list(held)
    learned = local_prior(host_cpu(), library)
    assert {t["model"] for t in learned.tasks} == {"tiny", "twin"}
    # the second run's prior: the shipped one without the held-out models, plus the first
    # model's programs, and its selection fitted on the shipped part
    assert second["cost_model"]["prior_programs"] == \
        second["prior"]["programs"] + first["measured"]
    with pytest.raises(FischedError, match="holding out"):  # a finished run is not mixed
        run_arm(str(twin), "fi-library", 0, 4, wd / "twin" / "fi-library", target,
                library=library)


def test_alternating_timer_sizes_runs_past_a_slow_first_call():
    import time

    from fisched.tuning.measure import time_alternating

    calls = {"a": 0, "b": 0}
    order = []

    def make(name):
        def fn():
            calls[name] += 1
            order.append(name)
            time.sleep(0.05 if calls[name] == 1 else 0.001)  # one-off set-up on the first call
        return fn

    a, b = time_alternating({"a": make("a"), "b": make("b")}, budget_s=1.0, rounds=2,
                            max_runs={"a": 40})
    # sized on the fastest warm-up call (~1 ms), not the first (50 ms): the cap binds
    assert len(a.runs_ms) == 40 and len(b.runs_ms) == 50
    assert max(a.runs_ms) < 40  # warm-up calls are not timed
    timed = order[6:]  # after three warm-up calls each, rounds interleave, the order turning
    assert order[:6] == ["a"] * 3 + ["b"] * 3
    assert timed == ["a"] * 20 + ["b"] * 25 + ["b"] * 25 + ["a"] * 20


def test_alternating_timer_rotates_so_no_callable_always_follows_the_same_one():
    from fisched.tuning.measure import time_alternating

    order = []
    fns = {n: (lambda n=n: order.append(n)) for n in "abc"}
    time_alternating(fns, budget_s=0.01, rounds=3, min_runs=1, default_max_runs=1)
    assert order[9:] == list("abc" "bca" "cab")  # each one is first, second and last once
    order.clear()
    time_alternating(fns, budget_s=0.01, rounds=3, min_runs=1, default_max_runs=1,
                     rotate=False)
    assert order[9:] == list("abc" * 3)


def _benchmark(name: str):
    """A script of benchmarks/ as a module (they are not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_headroom_sums_each_task_at_its_fastest_known_schedule():
    """benchmarks/headroom.py: the known best takes each task's fastest over every source,
    and a run's estimate counts a task it has no valid measurement of at the known best."""
    headroom = _benchmark("headroom")
    a, b = [1e-3, None, 3e-3], [2e-3, 1e-3, None]
    known = headroom.fastest(a, b, [None, 5e-4, None])
    assert known == [1e-3, 5e-4, 3e-3]
    assert headroom.estimate_ms([1, 2, 3], a, known) == pytest.approx(11.0)
    assert headroom.estimate_ms([1, 2, 3], b, known) == pytest.approx(13.0)
    # a task nothing ever measured is left out of every sum
    assert headroom.estimate_ms([1, 1], [None, 1e-3], [None, 1e-3]) == pytest.approx(1.0)
    assert headroom.estimate_ms([1], [None], [None]) is None
    # where the arm ended behind: weight x difference, over tasks both runs measured, worst first
    from types import SimpleNamespace as Task

    tasks = [Task(name=n, weight=w) for n, w in (("conv", 2.0), ("add", 4.0), ("dense", 1.0))]
    gaps = headroom.task_gaps(tasks, [1e-3, 2e-6, 5e-4], [1.5e-3, 1e-6, None])
    assert [g["task"] for g in gaps] == ["conv", "add"]
    assert [g["gap_ms"] for g in gaps] == pytest.approx([1.0, -0.004])


def test_explore_pool_scores_a_round_by_its_fastest_pick():
    """benchmarks/explore_pool.py: scores that order the programs exactly find the fastest at
    no temperature; a temperature far above the scores' spread picks as randomly as random."""
    pool = _benchmark("explore_pool")
    latency = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    scores = -np.log(latency) * 3
    assert pool.round_quality(scores, latency, 2, 0.0, 1) == 1.0
    assert pool.round_quality(-scores, latency, 2, 0.0, 1) == 5.0  # exactly wrong: the slowest two
    hot = pool.round_quality(scores, latency, 2, 1e3, 2000)
    assert hot == pytest.approx(pool.random_quality(latency, 2, 2000), rel=0.08)
    assert 1.0 < pool.round_quality(scores, latency, 2, 1.0, 2000) < hot
    assert pool.geomean([1.0, 4.0]) == pytest.approx(2.0)


def test_score_clip_counts_what_the_clip_at_0_leaves_of_a_search():
    """benchmarks/score_clip.py: a population scored all below 0 draws every parent from one
    program under the clip but widely under exp and softplus; equal positive scores are drawn
    from evenly; one program far above the rest is nearly the only parent either way. A search
    counts its distinct programs above 0 against the batch, and its last population draws no
    parents."""
    clip = _benchmark("score_clip")
    low = clip.call_stats(np.array([-3.0, -2.0, -2.0, -1.0]), [1, 2, 3, 4])
    assert low["below_zero"] == 1.0 and low["positive_keys"] == set()
    assert low["parents_clip"] == 0.25 and 0.5 < low["parents_odds"] < 1.0
    # softplus keeps every program drawable, weighted by how far below 0 it is
    assert low["parents_softplus"] == pytest.approx(0.7141, rel=1e-3)  # odds: 0.679
    even = clip.call_stats(np.array([1.0, 1.0, 1.0, 1.0]), [1, 2, 3, 4])
    assert even["parents_clip"] == pytest.approx(1.0) and even["parents_odds"] == pytest.approx(1.0)
    peaked = clip.call_stats(np.array([50.0, -1.0, -1.0, -1.0]), [5, 6, 7, 8])
    assert peaked["parents_clip"] == pytest.approx(0.25) == peaked["parents_odds"]
    assert peaked["parents_softplus"] == pytest.approx(0.2595, rel=1e-3)  # odds: 0.250
    assert even["parents_softplus"] == pytest.approx(1.0)
    assert peaked["positive_keys"] == {5}
    summary = clip.summarize([[low, low], [peaked, even], [peaked, low]], batch=2)
    assert summary["searches"] == 3 and summary["populations"] == 6
    assert summary["none_positive"] == pytest.approx(1 / 3)  # the first search
    assert summary["fewer_positive_than_batch"] == pytest.approx(2 / 3)  # the second has 5
    # the first population of each search draws parents: low, peaked, peaked
    assert summary["parents_clip"] == pytest.approx(0.25)
    assert summary["parents_odds"] == pytest.approx((low["parents_odds"] + 0.5) / 3)
    assert summary["parents_softplus"] == pytest.approx(
        (low["parents_softplus"] + 2 * peaked["parents_softplus"]) / 3)


def test_reach_tolerance_reads_both_arms_against_the_baselines_final_estimate():
    """benchmarks/reach_tolerance.py: per tolerance, the trials each arm took to come within it
    of the baseline's final estimate (not its own), over as many tasks, as a share of the
    baseline's trials; a seed that never got there counts as the slowest in the median."""
    reach = _benchmark("reach_tolerance")
    base = {"model": "m", "seed": 0, "arm": "xgb",
            "curve": [{"trials": 10, "estimate_ms": 10.4, "tasks_ok": 3},
                      {"trials": 50, "estimate_ms": 10.15, "tasks_ok": 3},
                      {"trials": 100, "estimate_ms": 10.0, "tasks_ok": 3}]}
    arm = {"model": "m", "seed": 0, "arm": "fi",
           "curve": [{"trials": 10, "estimate_ms": 9.0, "tasks_ok": 2},  # a task missing
                     {"trials": 20, "estimate_ms": 10.1, "tasks_ok": 3},
                     {"trials": 60, "estimate_ms": 10.0, "tasks_ok": 3},
                     {"trials": 100, "estimate_ms": 9.9, "tasks_ok": 3}]}
    got = reach.pair_reach(base, arm)
    assert got["first"] == pytest.approx(1.01)  # 9.0 was over two tasks of three
    assert got["0"] == {"arm": 0.6, "base": 1.0}
    assert got["0.01"] == {"arm": 0.2, "base": 1.0}  # 10.15 is above 10.1
    assert got["0.02"] == {"arm": 0.2, "base": 0.5}
    assert got["0.05"] == {"arm": 0.2, "base": 0.1}
    assert reach.median_or_none([0.2, None, None]) is None
    assert reach.median_or_none([0.2, 0.4, None]) == 0.4
    assert reach.median_or_none([0.2, 0.4, None, None]) is None  # half is not more than half
    never = {**arm, "seed": 1, "curve": arm["curve"][:2]}  # seed 1 never at 10.0
    runs = [base, arm, {**base, "seed": 1}, never, {**base, "seed": 2}]  # seed 2: stock only
    models = reach.folder_reach(runs, "fi", "xgb")
    assert [s["seed"] for s in models["m"]["seeds"]] == [0, 1]
    medians = models["m"]["median"]
    assert medians["0"] == {"arm": None, "arm_reached": 1, "base": 1.0}
    assert medians["0.01"]["arm"] == pytest.approx(0.2)
    assert medians["first"] == pytest.approx(1.01)
    table = reach.markdown({"host_cpu": "h", "base": "xgb", "command": "c",
                            "folders": [{"folder": "results/exp/h", "arm": "fi",
                                         "models": models}]}, "c")
    assert "| m | fi | exp | 2 | 1.01 | - / 1.00 (1/2) | 0.20 / 1.00 (2/2) |" in table


def test_reuse_gain_takes_the_known_schedules_from_the_runs_first_records():
    """benchmarks/reuse_gain.py: the reuse arm's first ``reused`` records are the known
    schedules; each reused task is compared with the control's and stock's bests at their end,
    and the control's catching up is read in its measurement order, within 1%."""
    gain = _benchmark("reuse_gain")
    # tasks 0 and 1 reused (3 records); task 2 searched only
    arm = [(0, 2e-3), (0, 1e-3), (1, 5e-6), (2, 4e-3), (0, 0.9e-3), (None, 1.0), (1, None)]
    control = [(0, 3e-3), (2, 4e-3), (0, 1.005e-3), (1, 6e-6), (0, 0.8e-3)]
    base = [(0, 1.1e-3), (1, 7e-6), (2, 3e-3)]
    got = gain.seed_gain(arm, control, base, 3, ["conv", "pool", "dense"], [2.0, 1.0, 1.0])
    assert got["reuse_trials"] == 3
    conv, pool = got["tasks"]  # weight x known first: 2 x 1 ms before 1 x 5 us
    assert (conv["task"], conv["known_us"], conv["arm_us"]) == ("conv", 1000.0, 900.0)
    assert (conv["control_us"], conv["base_us"]) == (pytest.approx(800.0), 1100.0)
    assert conv["control_at"] == pytest.approx(3 / 5)  # 1.005 ms is within 1% of 1 ms
    assert pool["control_at"] is None  # the control's 6 us is not within 1% of 5 us
    base_ms = (2 * 1.1e-3 + 7e-6 + 3e-3) * 1e3
    assert got["base_ms"] == pytest.approx(base_ms)
    # stock's bests on the reused tasks, not the known schedules'
    assert got["reused_share"] == pytest.approx((2 * 1.1e-3 + 7e-6) * 1e3 / base_ms)
    assert got["known_vs_control"] == pytest.approx(
        (2 * (1e-3 - 0.8e-3) + (5e-6 - 6e-6)) * 1e3 / base_ms)
    table = gain.markdown([{"model": "m", "seed": 0, **got}], "c", "h")
    nothing = gain.seed_gain(arm, [(2, 4e-3)], base, 3, ["conv", "pool", "dense"],
                             [2.0, 1.0, 1.0])
    assert nothing["known_vs_control"] is None  # no reused task in the control: not 0
    assert "| m | 0 | 3 | 42.4% | +7.7% | conv | 2 | 1000.0 | 900.0 | 800.0 | 1100.0 | 0.60 |" \
        in table


def test_first_round_takes_each_tasks_first_batch_against_stocks_final_best():
    """benchmarks/first_round.py: a task's first round is its first ``trials_per_iter``
    records in measurement order, wherever they fall; a task the arm never measured in it
    counts at stock's final best; gaps are weight x (arm's first - stock's final)."""
    fr = _benchmark("first_round")
    arm = [(0, 3e-3), (1, None), (0, 2e-3), (1, 9e-6), (0, 1e-3), (None, 1.0)]
    base = [(0, 4e-3), (0, 5e-3), (1, 8e-6), (1, 7e-6), (2, 1e-3), (0, 2.5e-3)]
    a1 = fr.first_round_bests(arm, 2, 3)
    assert a1 == [2e-3, 9e-6, None]  # task 0's third record is its second round
    b1 = fr.first_round_bests(base, 2, 3)
    assert b1 == [4e-3, 7e-6, 1e-3]
    final = fr.final_bests(base, 3)
    assert final == [2.5e-3, 7e-6, 1e-3]
    got = fr.seed_first_round(["conv", "pool", "dense"], [2.0, 1.0, 1.0], a1, b1, final)
    total = 2 * 2.5e-3 + 7e-6 + 1e-3
    assert got["base_final_ms"] == pytest.approx(total * 1e3)
    # dense never ran in the arm's first round: it counts at stock's final best
    assert got["arm_first"] == pytest.approx((2 * 2e-3 + 9e-6 + 1e-3) / total)
    assert got["base_first"] == pytest.approx((2 * 4e-3 + 7e-6 + 1e-3) / total)
    conv = next(t for t in got["tasks"] if t["task"] == "conv")
    assert conv["gap_ms"] == pytest.approx(2 * (2e-3 - 2.5e-3) * 1e3)  # ahead: below 0
    assert got["tasks"][0]["task"] == "pool"  # the one behind comes first
    table = fr.markdown([{"model": "m", "seed": 0, **got}], "c", "xgb", "fi", "h")
    assert ("| m | 1 | 0.83 (0.83-0.83) | 1.50 (1.50-1.50) | "
            "pool 0.002, dense 0.000, conv -1.000 |") in table


def test_arm_costs_reads_the_unroll_step_each_record_chose():
    """benchmarks/arm_costs.py: an unroll annotation's value is looked up through the
    SampleCategorical that produced it and that instruction's decision; other annotations and
    undecided samples count for nothing."""
    arm_costs = _benchmark("arm_costs")
    insts = [["SampleCategorical", [], [[0, 16, 64, 512], [0.25] * 4], ["v1"]],
             ["SampleCategorical", [], [[1, 2], [0.5, 0.5]], ["v2"]],
             ["Annotate", ["b0", "v1"], ["meta_schedule.unroll_explicit"], []],
             ["Annotate", ["b0", "v2"], ["meta_schedule.parallel"], []],
             ["Annotate", ["b0", 64], ["meta_schedule.vectorize"], []]]
    assert arm_costs.unroll_steps([insts, [[0, 3], [1, 0]]]) == [512]
    assert arm_costs.unroll_steps([insts, [[0, 1]]]) == [16]
    assert arm_costs.unroll_steps([insts, []]) == []


def test_an_experiment_refuses_to_mix_hosts(tmp_path):
    """Runs measured on another host are never tuned beside or timed against on this one,
    and runs of several hosts are never summarised together."""
    from fisched.provenance import one_host
    from fisched.study.experiment import experiment

    run = tmp_path / "tiny" / "seed0" / "xgb" / "run.json"
    run.parent.mkdir(parents=True)
    run.write_text(json.dumps({"host_cpu": "some-other-cpu"}))
    with pytest.raises(FischedError, match="some-other-cpu"):
        experiment(["tiny.onnx"], 6, 1, tmp_path, target=None, log=lambda _: None)
    assert one_host([{"host_cpu": "a"}, {"host_cpu": "a"}], "x") == "a"
    assert one_host([], "x") is None
    # a run from before host_cpu was written names its host through its target
    older = {"provenance": {"target": json.dumps({"kind": "llvm", "mcpu": "znver3"})}}
    assert one_host([older, {"host_cpu": "znver3"}], "x") == "znver3"
    with pytest.raises(FischedError, match="several hosts"):
        one_host([{"host_cpu": "a"}, {"host_cpu": "b"}], "x")
