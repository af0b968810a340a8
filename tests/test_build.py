"""fisched's builder: workers kept across batches, failures reported per candidate, and CPU
builds that never import MetaSchedule's tensor-intrinsic registry (a 35 s import)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import cloudpickle
import psutil
import pytest

# The builder's workers cannot import this test module: send its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

INTRIN = "tvm.s_tir.tensor_intrin"
VNNI_TARGET = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "cascadelake",
               "num-cores": 2}
AVX512_TARGET = {**VNNI_TARGET, "mcpu": "skylake-avx512"}


def build_recording_pid(mod, target, params):
    """fast_build, leaving this worker's pid in $FISCHED_TEST_PIDS' folder."""
    from fisched.metaschedule.build import fast_build

    out = fast_build(mod, target, params)
    folder = os.environ["FISCHED_TEST_PIDS"]
    open(os.path.join(folder, str(os.getpid())), "w").close()
    return out


def build_without_registry(mod, target, params):
    """fast_build, failing if it made the worker import the intrinsic registry."""
    from fisched.metaschedule.build import fast_build

    out = fast_build(mod, target, params)
    if INTRIN in sys.modules:
        raise AssertionError(f"{INTRIN} was imported by the build")
    return out


def build_raising(mod, target, params):
    raise RuntimeError("injected build failure")


def build_hanging(mod, target, params):
    time.sleep(60)


def _inputs(mod, target, n):
    from tvm.s_tir import meta_schedule as ms

    return [ms.builder.BuilderInput(mod, target) for _ in range(n)]


@pytest.mark.slow
def test_workers_live_across_batches(tmp_path, monkeypatch, target):
    """Three batches of two builds on two workers: at most two processes ever built anything
    (LocalBuilder starts two new ones per batch); after close(), new workers start."""
    from test_tune import _matmul_task

    from fisched.metaschedule.build import make_builder

    monkeypatch.setenv("FISCHED_TEST_PIDS", str(tmp_path))
    builder = make_builder(2, f_build=build_recording_pid)
    mod = _matmul_task().mod
    try:
        for _ in range(3):
            results = builder.build(_inputs(mod, target, 2))
            assert [r.error_msg for r in results] == [None, None]
            assert all(os.path.exists(r.artifact_path) for r in results)
        assert 1 <= len(os.listdir(tmp_path)) <= 2
    finally:
        builder.close()
    first = set(os.listdir(tmp_path))
    time.sleep(1)
    assert not [pid for pid in first if psutil.pid_exists(int(pid))], "close() left workers"
    try:
        builder.build(_inputs(mod, target, 1))
    finally:
        builder.close()
    assert set(os.listdir(tmp_path)) - first, "close() should have stopped the old workers"


def _popen_workers() -> set[int]:
    return {p.pid for p in psutil.Process().children()
            if "tvm.exec.popen_worker" in " ".join(p.cmdline())}


@pytest.mark.slow
def test_start_workers_has_them_running_before_the_first_batch(tmp_path, monkeypatch, target):
    """start_workers: the builder's two workers and the runner's one are up before any batch
    (a tune starts them while it extracts its tasks), and the first batch is built on the
    workers started then, not on new ones."""
    from test_tune import _matmul_task
    from tvm.s_tir import meta_schedule as ms

    from fisched.metaschedule.build import make_builder, start_workers

    monkeypatch.setenv("FISCHED_TEST_PIDS", str(tmp_path))
    before = _popen_workers()
    builder = make_builder(2, f_build=build_recording_pid)
    try:
        workers = start_workers(builder, threads=2)
        assert isinstance(workers.runner(), ms.runner.LocalRunner)
        deadline = time.time() + 120
        while len(started := _popen_workers() - before) < 3 and time.time() < deadline:
            time.sleep(0.2)
        assert len(started) == 3, started
        results = builder.build(_inputs(_matmul_task().mod, target, 2))
        assert [r.error_msg for r in results] == [None, None]
        assert {int(pid) for pid in os.listdir(tmp_path)} <= started
    finally:
        builder.close()


@pytest.mark.slow
def test_failed_and_timed_out_builds_are_reported_and_the_pool_recovers(target):
    """A build that raises and one that hangs come back as failed results with their error
    (MetaSchedule records them as failed trials); the same builder then builds normally."""
    from test_tune import _matmul_task

    from fisched.metaschedule.build import fast_build, make_builder

    mod = _matmul_task().mod
    builder = make_builder(1, timeout_sec=8, f_build=build_raising)
    try:
        (failed,) = builder.build(_inputs(mod, target, 1))
        assert failed.artifact_path is None and "injected build failure" in failed.error_msg
        builder.f_build = build_hanging  # sent with every batch, so the worker sees the change
        start = time.time()
        (hung,) = builder.build(_inputs(mod, target, 1))
        assert "Timeout" in hung.error_msg and time.time() - start < 40
        builder.f_build = fast_build
        (good,) = builder.build(_inputs(mod, target, 1))
        assert good.error_msg is None and os.path.exists(good.artifact_path)
    finally:
        builder.close()


@pytest.mark.slow
def test_avx512_rule_set_kernels_build_without_the_intrinsic_registry():
    """On an AVX-512 target MetaSchedule picks its "avx512" rule set, and its default build
    imports every intrinsic in each worker for it; fisched's builder compiles that rule set's
    post-processed candidates (a matmul's design spaces) in a fresh worker without the import.

    (Its int8 rules tensorize with ``dot_16x4_avx512``/``dot_16x4_vnni``, but in TVM 0.27 those
    kernels fail to lower with MetaSchedule's own default build as well, so fp32 is checked.)"""
    from test_tune import _matmul_task
    from tvm.s_tir import meta_schedule as ms

    from fisched.metaschedule.build import intrinsics_for, make_builder
    from fisched.metaschedule.target import make_target

    target = make_target(AVX512_TARGET)
    with intrinsics_for(target):
        ctx = ms.TuneContext(mod=_matmul_task().mod, target=target,
                             space_generator="post-order-apply", search_strategy="replay-trace")
    mods = []
    for sch in ctx.generate_design_space():
        sch = sch.copy()
        assert all(p.apply(sch) for p in ctx.space_generator.postprocs)
        mods.append(sch.mod)
    assert len(mods) >= 2 and any("vectorized" in m.script() for m in mods)
    builder = make_builder(1, f_build=build_without_registry)
    try:
        results = builder.build([ms.builder.BuilderInput(m, target) for m in mods])
    finally:
        builder.close()
    assert [r.error_msg for r in results] == [None] * len(mods)


@pytest.mark.slow
def test_contexts_load_only_the_target_familys_intrinsics():
    """TuneContext imports every tensor intrinsic (35 s); for a CPU target only its family's
    module is loaded while contexts are made, and the placeholder package is gone afterwards,
    so a later plain import still runs the real package (without registering x86 twice)."""
    script = f"""
import sys
from tvm.s_tir import meta_schedule as ms
from fisched.metaschedule.build import intrinsics_for
from fisched.metaschedule.target import make_target
from test_tune import _matmul_task
target = make_target({VNNI_TARGET!r})
with intrinsics_for(target):
    ctx = ms.TuneContext(mod=_matmul_task().mod, target=target, space_generator="post-order-apply",
                         search_strategy="evolutionary")
    assert sys.modules["{INTRIN}"].__doc__.startswith("placeholder")
assert "{INTRIN}" not in sys.modules
loaded = sorted(m for m in sys.modules if m.startswith("{INTRIN}."))
assert loaded == ["{INTRIN}.x86"], loaded
assert len(ctx.generate_design_space()) >= 1
import tvm.s_tir.tensor_intrin as real
assert hasattr(real, "cuda") and hasattr(real, "x86")
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=os.path.dirname(__file__))
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_intrinsic_family_follows_the_target():
    from fisched.metaschedule.build import intrinsic_family
    from fisched.metaschedule.target import make_target

    assert intrinsic_family(make_target(VNNI_TARGET)) == "x86"
    arm = make_target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "generic"})
    assert intrinsic_family(arm) == "arm_cpu"
    assert intrinsic_family(make_target({"kind": "cuda", "arch": "sm_80"})) is None
