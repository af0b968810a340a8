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

from fisched.records import RECORD_FILE, open_database, records_by_task, run_seconds
from fisched.tune import Task, run_search, trials_per_iter


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
    from fisched.cost_models import make_cost_model

    database = open_database(workdir)
    run_search([task], workdir, database, target, max_trials=trials, per_iter=per_iter,
               strategy="evolutionary", cost_model=make_cost_model("xgb", 2, 0), seed=0,
               callbacks=[])
    return database


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


def test_kill_and_resume_loses_no_record(tiny_onnx, tmp_path):
    """kill -9 mid-run, then the same command: every record written before the kill survives,
    and the run completes its budget."""
    wd = tmp_path / "w"
    cmd = [sys.executable, "-m", "fisched.cli", "tune", str(tiny_onnx), "--trials", "8",
           "--trials-per-iter", "2", "--workdir", str(wd), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    records = wd / RECORD_FILE
    deadline = time.time() + 600
    while time.time() < deadline:
        if records.exists() and len(records.read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail("tune finished before it could be killed")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [line for line in records.read_text().splitlines() if line.strip()]
    assert 2 <= len(before) < 8
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
    assert len(after) >= 8
    report = json.loads((wd / "report.json").read_text())
    assert report["this_run"]["trials_before"] == len(before)


_X86_NO_VNNI = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "znver3", "num-cores": 2}


def test_contexts_skip_the_intrinsics_a_target_cannot_use():
    """TuneContext imports every tensor intrinsic (20-30 s); for a target whose rules cannot
    tensorize, the import is a placeholder while contexts are made, and is gone afterwards."""
    script = f"""
import sys
from tvm.s_tir import meta_schedule as ms
from fisched.build import intrinsics_only_if_needed
from fisched.target import make_target
from test_tune import _matmul_task
target = make_target({_X86_NO_VNNI!r})
with intrinsics_only_if_needed(target):
    ctx = ms.TuneContext(mod=_matmul_task().mod, target=target, space_generator="post-order-apply",
                         search_strategy="evolutionary")
    assert sys.modules["tvm.s_tir.tensor_intrin"].__doc__.startswith("placeholder")
assert "tvm.s_tir.tensor_intrin" not in sys.modules
assert len(ctx.generate_design_space()) >= 1  # the llvm rules need no intrinsic
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=os.path.dirname(__file__))
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


@pytest.mark.parametrize("spec", [{"mcpu": "cascadelake"}, {"mcpu": "skylake-avx512"},
                                  {"mtriple": "aarch64-linux-gnu", "mcpu": "generic"}])
def test_tensorizing_targets_get_the_real_intrinsics(spec):
    """VNNI, AVX-512 (f+bw) and ARM targets get MetaSchedule rule sets that look intrinsics up
    when the context is made: they must see the real module, even inside a plain target's block."""
    from tvm.s_tir import meta_schedule as ms

    from fisched.build import intrinsics_only_if_needed, target_tensorizes
    from fisched.target import make_target

    target = make_target({**_X86_NO_VNNI, **spec})
    assert target_tensorizes(target)
    assert not target_tensorizes(make_target(_X86_NO_VNNI))
    with intrinsics_only_if_needed(make_target(_X86_NO_VNNI)):
        with intrinsics_only_if_needed(target):
            ms.TuneContext(mod=_matmul_task().mod, target=target,
                           space_generator="post-order-apply", search_strategy="evolutionary")
        intrin = sys.modules["tvm.s_tir.tensor_intrin"]
    assert hasattr(intrin, "x86") and sys.modules["tvm.s_tir.tensor_intrin"] is intrin


def test_search_population_comes_from_the_environment(monkeypatch):
    from fisched.errors import FischedError
    from fisched.tune import POPULATION_ENV, search_strategy

    monkeypatch.setenv(POPULATION_ENV, "32")
    assert search_strategy("evolutionary").population_size == 32
    assert search_strategy("replay-trace") == "replay-trace"  # only the evolutionary search
    for bad in ("many", "1"):
        monkeypatch.setenv(POPULATION_ENV, bad)
        with pytest.raises(FischedError, match=POPULATION_ENV):
            search_strategy("evolutionary")
    monkeypatch.delenv(POPULATION_ENV)
    assert search_strategy("evolutionary") == "evolutionary"  # MetaSchedule's own default
