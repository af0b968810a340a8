"""Candidates that fail to build, crash or hang are recorded as failed and tuning goes on;
measurement through TVM's RPC tracker and servers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import cloudpickle
import pytest

from fisched.metaschedule.records import open_database, records_by_task, run_seconds

# MetaSchedule's worker processes cannot import this test module: send its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

HANG_SECONDS = 30.0
RUN_TIMEOUT = 4.0


def flaky_build(mod, target, params):
    """Every build whose module text hashes to 0 mod 3 fails on purpose."""
    import zlib

    from fisched.metaschedule.build import fast_build

    if zlib.crc32(mod.script().encode()) % 3 == 0:
        raise RuntimeError("injected build failure")
    return fast_build(mod, target, params)


def flaky_evaluator(rt_mod, device, evaluator_config, repeated_args):
    """Crash on some candidates, hang past the timeout on others, time the rest normally."""
    import os

    from tvm.s_tir.meta_schedule.runner.local_runner import default_run_evaluator

    roll = int.from_bytes(os.urandom(1), "little") % 4
    if roll == 0:
        raise RuntimeError("injected run crash")
    if roll == 1:
        time.sleep(HANG_SECONDS)
    return default_run_evaluator(rt_mod, device, evaluator_config, repeated_args)


@pytest.mark.slow
def test_failing_candidates_are_recorded_and_tuning_goes_on(tmp_path, target):
    from test_tune import _matmul_task
    from tvm.s_tir import meta_schedule as ms

    from fisched.costmodel.cost_models import make_cost_model
    from fisched.tuning.tune import run_search

    task = _matmul_task()
    database = open_database(tmp_path)
    builder = ms.builder.LocalBuilder(max_workers=2, f_build=flaky_build)
    runner = ms.runner.LocalRunner(timeout_sec=RUN_TIMEOUT, f_run_evaluator=flaky_evaluator)
    start = time.time()
    run_search([task], tmp_path, database, target, max_trials=12, per_iter=6,
               strategy="evolutionary", cost_model=make_cost_model("xgb", 2, 0), seed=0,
               callbacks=[], builder=builder, runner=runner)
    elapsed = time.time() - start
    records = records_by_task(database, [task.mod])[0]
    failed = [r for r in records if run_seconds(r) is None]
    assert len(records) == 12  # every candidate, failed or not, is on record
    assert 1 <= len(failed) < 12
    # hung candidates cost their timeout, not their sleep: 12 hangs would take 360 s
    assert elapsed < 12 * HANG_SECONDS * 0.75


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_tuning_through_rpc_tracker_and_two_servers(tmp_path, tiny_onnx):
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host",
                               "127.0.0.1", "--port", str(port), "--port-end", str(port + 1)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(3)
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tvm.exec.rpc_server", "--tracker", f"127.0.0.1:{port}",
                 "--key", "fisched-test", "--host", "127.0.0.1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from tvm import rpc

        deadline = time.time() + 120
        free = 0
        while time.time() < deadline:
            try:
                summary = rpc.connect_tracker("127.0.0.1", port).summary()
                free = summary["queue_info"].get("fisched-test", {}).get("free", 0)
            except Exception:  # tracker still starting
                free = 0
            if free == 2:
                break
            time.sleep(1)
        else:
            pytest.fail(f"RPC servers did not register with the tracker ({free} of 2)")
        wd = tmp_path / "w"
        res = subprocess.run([sys.executable, "-m", "fisched.cli", "tune", str(tiny_onnx),
                              "--trials", "6", "--workdir", str(wd), "-q", "--rpc-tracker",
                              f"127.0.0.1:{port}", "--rpc-key", "fisched-test"],
                             capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr
        from fisched.metaschedule.records import open_database as _open

        records = _open(wd).get_all_tuning_records()
        assert len(records) >= 6
        assert sum(run_seconds(r) is not None for r in records) >= 4
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def _gather_task(rows: int = 1000):
    """``table[idx]``: an embedding lookup, whose int64 indices MetaSchedule fills at random."""
    import tvm
    from tvm import te

    from fisched.tuning.tune import Task

    table = te.placeholder((rows, 64), name="table")
    idx = te.placeholder((32,), dtype="int64", name="idx")
    out = te.compute((32, 64), lambda i, j: table[idx[i], j], name="out")
    func = te.create_prim_func([table, idx, out]).with_attr("global_symbol", "main")
    return Task("gather", tvm.IRModule({"main": func}), 1.0, 32 * 64)


@pytest.mark.slow
def test_index_inputs_stay_in_bounds_so_gathers_get_measured(tmp_path, target):
    """With the stock argument filler every candidate of a gather reads out of bounds and fails;
    fisched's runner (zeros for integer inputs) measures them."""
    from test_tune import tune_briefly

    task = _gather_task()
    database = tune_briefly(task, tmp_path, target, trials=4, per_iter=4)
    records = records_by_task(database, [task.mod])[0]
    assert records and all(run_seconds(r) is not None for r in records)


def test_argument_filler_zeroes_integer_inputs_only():
    import numpy as np
    import tvm

    from fisched.metaschedule.build import fill_arguments, is_integer_dtype

    filled = []

    def fake_random_fill(arg):
        arg.copyfrom(np.full(arg.shape, 7, dtype=arg.dtype))
        filled.append(arg.dtype)

    info = [["TENSOR", "float32", [4, 8]], ["TENSOR", "int64", [3]], ["TENSOR", "uint8", [2, 2]],
            ["TENSOR", "float16", [5]], ["TENSOR", "bool", [2]]]
    (args,) = fill_arguments(fake_random_fill, tvm.cpu(), info, 1)
    assert [str(a.dtype) for a in args] == ["float32", "int64", "uint8", "float16", "bool"]
    assert [list(a.shape) for a in args] == [[4, 8], [3], [2, 2], [5], [2]]
    assert not args[1].numpy().any() and not args[2].numpy().any()
    assert (args[0].numpy() == 7).all() and (args[3].numpy() == 7).all()
    assert [str(d) for d in filled] == ["float32", "float16", "bool"]
    # vector and sub-byte integers, which numpy cannot lay out, keep the random fill
    assert not is_integer_dtype("int64x4") and not is_integer_dtype("int4")
    assert is_integer_dtype("int32") and not is_integer_dtype("bool")
    assert len(fill_arguments(fake_random_fill, tvm.cpu(), info, 3)) == 3
    with pytest.raises(NotImplementedError):
        fill_arguments(fake_random_fill, tvm.cpu(), [["SCALAR", "int32"]], 1)
