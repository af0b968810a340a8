"""Real tuning round trips: a TIR workload and a small ONNX model, plus kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fisched.metaschedule.records import open_database, records_by_task, run_seconds
from fisched.tuning.tune import Task, run_search, trials_per_iter
from fisched.workdir import RECORD_FILE


def _matmul_task():
    import tvm
    from tvm import te

    a = te.placeholder((64, 64), name="a")
    b = te.placeholder((64, 64), name="b")
    k = te.reduce_axis((0, 64), name="k")
    c = te.compute((64, 64), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="c")
    func = te.create_prim_func([a, b, c]).with_attr("global_symbol", "main")
    return Task("matmul", tvm.IRModule({"main": func}), 1.0, 2 * 64**3)


def tune_briefly(task: Task, workdir, target, trials: int, per_iter: int):
    """``trials`` evolutionary trials of one task with stock XGBModel; returns the database."""
    from fisched.costmodel.cost_models import make_cost_model

    database = open_database(workdir)
    run_search([task], workdir, database, target, max_trials=trials, per_iter=per_iter,
               strategy="evolutionary", cost_model=make_cost_model("xgb", 2, 0), seed=0,
               callbacks=[])
    return database


@pytest.mark.slow
def test_tir_workload_round_trip(tmp_path, target):
    """Tune a matmul for a handful of trials, compile the best schedule, compare with numpy."""
    import tvm
    from tvm.s_tir import meta_schedule as ms

    task = _matmul_task()
    database = tune_briefly(task, tmp_path, target, trials=6, per_iter=3)
    records = records_by_task(database, [task.mod])[0]
    assert len(records) == 6
    assert all(run_seconds(r) is not None for r in records)
    sch = ms.tir_integration.compile_tir(database, task.mod, target)
    assert sch is not None, "no tuned schedule found for the task"
    assert "parallel" in sch.mod.script() or "vectorized" in sch.mod.script()
    lib = tvm.compile(sch.mod, target=target)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((64, 64)).astype("float32") for _ in range(2))
    c = tvm.runtime.tensor(np.zeros((64, 64), "float32"))
    lib["main"](tvm.runtime.tensor(a), tvm.runtime.tensor(b), c)
    np.testing.assert_allclose(c.numpy(), a @ b, rtol=1e-4, atol=1e-4)


def test_trials_per_iter_reaches_every_task():
    assert trials_per_iter(64, 19) * 19 <= 64
    assert trials_per_iter(10, 30) == 1
    assert trials_per_iter(100000, 3) == 64


def _fisched(*args, **kw):
    return subprocess.run([sys.executable, "-m", "fisched.cli", *args], capture_output=True,
                          text=True, timeout=900, **kw)


@pytest.mark.slow
def test_tune_measure_cli_round_trip(tiny_onnx, tmp_path):
    """tune -> compiled library whose every function is tuned -> measure with numerical check;
    a second tune on the same workdir measures nothing new."""
    wd = tmp_path / "w"
    res = _fisched("tune", str(tiny_onnx), "--trials", "8", "--workdir", str(wd), "-q",
                   "--validate-top", "2")
    assert res.returncode == 0, res.stderr
    assert (wd / "model.so").exists()
    assert "validation: re-timed the 2 best schedules" in res.stderr
    assert (wd / "validated" / "database_tuning_record.json").exists()
    done, total = (int(x) for x in res.stdout.split("(")[-1].split()[0].split("/"))
    assert done == total > 0, res.stdout
    report = json.loads((wd / "report.json").read_text())
    assert 8 <= report["records"] <= 16 and report["estimate_ms"] > 0  # may overshoot a batch

    res = _fisched("measure", str(tiny_onnx), "--workdir", str(wd), "--budget", "0.5")
    assert res.returncode == 0, res.stderr + res.stdout
    rows = json.loads((wd / "measure.json").read_text())
    names = [r["name"] for r in rows["latency"]]
    assert names == ["TVM tuned (fisched)", "onnxruntime", "TVM untuned"]
    assert rows["max_relative_error"]["tuned vs onnxruntime"] < 1e-4

    res = _fisched("tune", str(tiny_onnx), "--trials", "8", "--workdir", str(wd), "-q")
    assert res.returncode == 0, res.stderr
    assert json.loads((wd / "report.json").read_text())["this_run"]["measured"] == 0
    assert json.loads((wd / "fisched.json").read_text())["math"] == "fast"
    # tasks prepared another way would not match the records: refused in one line
    res = _fisched("tune", str(tiny_onnx), "--trials", "8", "--workdir", str(wd), "-q",
                   "--exact-math")
    assert res.returncode != 0 and "tuned with fast math" in res.stderr, res.stderr


@pytest.mark.slow
def test_kill_in_the_first_round_and_resume_loses_no_record(tiny_onnx, tmp_path):
    """kill -9 in the first round (every task searched once, 2 candidates each), then the same
    command: the batches measured before the kill are on record (MetaSchedule's own scheduler
    writes none until the whole round is measured), they survive, and the run completes."""
    wd = tmp_path / "w"
    cmd = [sys.executable, "-m", "fisched.cli", "tune", str(tiny_onnx), "--trials", "12",
           "--trials-per-iter", "2", "--workdir", str(wd), "-q",
           # the suite's library knows the tiny model from earlier tests: a warm start would
           # commit several records at once and move the kill out of the first round
           "--no-reuse"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    records = wd / RECORD_FILE
    deadline = time.time() + 600
    while time.time() < deadline:
        if records.exists() and len(records.read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail("tune finished before it could be killed")
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [line for line in records.read_text().splitlines() if line.strip()]
    def task_of(line: str):
        try:
            return json.loads(line)[0]
        except json.JSONDecodeError:  # the kill cut the line being written
            return None

    tasks_on_record = {task_of(line) for line in before} - {None}
    # the tiny model has >= 3 tasks: fewer tasks on record than that is a kill inside the
    # first round
    assert 2 <= len(before) < 6 and len(tasks_on_record) < 3, before
    # Simulate the worst moment for a kill: half a record written, no newline.
    cut = before[-1][: len(before[-1]) // 2]
    with open(records, "a") as f:
        f.write(cut)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    assert "set aside 1 unreadable record" in res.stderr
    assert (wd / "database_tuning_record.corrupt.json").read_text() == cut + "\n"
    after = [line for line in records.read_text().splitlines() if line.strip()]
    assert after[:len(before)] == before
    assert len(after) >= 12
    report = json.loads((wd / "report.json").read_text())
    assert report["this_run"]["trials_before"] == len(before)


def test_search_population_argument_environment_and_default(monkeypatch):
    from fisched.errors import FischedError
    from fisched.tuning.tune import DEFAULT_POPULATION, POPULATION_ENV, search_strategy

    monkeypatch.setenv(POPULATION_ENV, "32")
    assert search_strategy("evolutionary").population_size == 32
    assert search_strategy("evolutionary", 256).population_size == 256  # the argument wins
    assert search_strategy("evolutionary", 256).init_min_unmeasured == 25
    assert search_strategy("replay-trace") == "replay-trace"  # only the evolutionary search
    for bad in ("many", "1"):
        monkeypatch.setenv(POPULATION_ENV, bad)
        with pytest.raises(FischedError, match=POPULATION_ENV):
            search_strategy("evolutionary")
    with pytest.raises(FischedError, match="--population"):
        search_strategy("evolutionary", 1)
    monkeypatch.delenv(POPULATION_ENV)
    assert search_strategy("evolutionary").population_size == DEFAULT_POPULATION != 512


@pytest.mark.slow
def test_prepacked_weights_round_trip(tuned_tiny, tiny_onnx, tmp_path):
    """Prepacked and NHWC by default on a CPU: the workdir records both and every function of
    its library uses a tuned schedule (its numerics: test_cli_workdir's measure test); the
    workdir refuses --no-prepack and --layout as-is, and a plain tune of an as-is workdir
    resumes as-is."""
    meta = json.loads((tuned_tiny / "fisched.json").read_text())
    assert (meta["weights"], meta["layout"]) == ("prepacked", "nhwc")
    res = _fisched("tune", str(tuned_tiny.parent / "tiny.onnx"), "--trials", "8", "--workdir",
                   str(tuned_tiny), "-q", "--no-prepack")
    assert res.returncode != 0 and "weights prepacked" in res.stderr, res.stderr
    res = _fisched("tune", str(tuned_tiny.parent / "tiny.onnx"), "--trials", "8", "--workdir",
                   str(tuned_tiny), "-q", "--layout", "as-is")
    assert res.returncode != 0 and "layout nhwc" in res.stderr, res.stderr
    plain = tmp_path / "plain"
    res = _fisched("tune", str(tiny_onnx), "--trials", "4", "--workdir", str(plain), "-q",
                   "--no-prepack")
    assert res.returncode == 0, res.stderr
    res = _fisched("tune", str(tiny_onnx), "--trials", "6", "--workdir", str(plain), "-q")
    assert res.returncode == 0, res.stderr
    assert json.loads((plain / "fisched.json").read_text())["weights"] == "as-is"
    done, total = (int(x) for x in res.stdout.split("(")[-1].split()[0].split("/"))
    assert done == total > 0, res.stdout


@pytest.mark.slow
def test_time_limit_ends_the_run_after_its_first_round(tiny_onnx, tmp_path):
    """A time limit already past stops tuning once every task has had its first batch: fewer
    records than --trials, yet no task left without a tuned schedule."""
    wd = tmp_path / "w"
    res = _fisched("tune", str(tiny_onnx), "--trials", "60", "--trials-per-iter", "2",
                   "--time-limit", "0.001", "--workdir", str(wd), "-q")
    assert res.returncode == 0, res.stderr
    report = json.loads((wd / "report.json").read_text())
    assert report["records"] < 60, report
    done, total = (int(x) for x in res.stdout.split("(")[-1].split()[0].split("/"))
    assert done == total > 0, res.stdout
    res = _fisched("tune", str(tiny_onnx), "--trials", "8", "--time-limit", "0",
                   "--workdir", str(tmp_path / "x"), "-q")
    assert res.returncode != 0 and "--time-limit" in res.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_prepack_marks_the_weights_layout_free(target):
    """Each conv/matmul task of a prepacked model says which of its inputs are weights."""
    from fisched.models.frontend import load_model
    from fisched.tuning.tune import extract

    def marked(prepack: bool) -> list[str]:
        tasks = extract(load_model("resnet18", prepack=prepack), target)
        return [t.name for t in tasks
                if list(t.mod["main"].attrs.get("layout_free_buffers", None) or [])]

    names = marked(True)
    assert any("conv2d" in n for n in names) and any("matmul" in n for n in names), names
    assert marked(False) == []


def test_pick_by_gradient_follows_metaschedule():
    """GradientBased's rule: weight x (alpha x recent slope + (1 - alpha) x best / joins)."""
    import random

    from fisched.tuning.tune import pick_by_gradient

    rng = random.Random(0)
    # task 0 improves fast, task 1 has stalled: the slope term picks 0
    hist = {0: [10.0, 8.0, 6.0, 4.0], 1: [5.0, 5.0, 5.0, 5.0]}
    assert pick_by_gradient(hist, {0: 1.0, 1: 1.0}, 0.2, 3, rng) == 0
    # the same histories with task 1 run 10x as often in the model: its latency term wins
    assert pick_by_gradient(hist, {0: 1.0, 1: 10.0}, 0.2, 3, rng) == 1
    # a task whose every candidate failed (1e9) is not picked while another has a time
    assert pick_by_gradient({0: [1e9], 1: [3.0]}, {0: 100.0, 1: 1.0}, 0.2, 3, rng) == 1
    # all equal: a random pick among them, each possible
    picks = {pick_by_gradient({0: [2.0], 1: [2.0]}, {0: 1.0, 1: 1.0}, 0.2, 3, rng)
             for _ in range(50)}
    assert picks == {0, 1}


def test_cli_version_and_an_unknown_cost_model_fail_before_any_work(tmp_path):
    res = _fisched("--version")
    assert res.returncode == 0 and res.stdout.startswith("fisched ")
    wd = tmp_path / "w"
    res = _fisched("tune", "resnet18", "--cost-model", "bogus", "--workdir", str(wd))
    assert res.returncode == 2 and "invalid choice: 'bogus'" in res.stderr
    assert not wd.exists()  # nothing imported, nothing written
