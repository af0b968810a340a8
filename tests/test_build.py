"""fisched's builder: workers kept across batches, failures reported per candidate, and CPU
builds that never import MetaSchedule's tensor-intrinsic registry (a 35 s import)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import cloudpickle

# The builder's workers cannot import this test module: send its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

INTRIN = "tvm.s_tir.tensor_intrin"
VNNI_TARGET = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "cascadelake",
               "num-cores": 2}


def _int8_matmul():
    import tvm
    from tvm import te

    a = te.placeholder((32, 64), "uint8", name="a")
    b = te.placeholder((64, 64), "int8", name="b")
    k = te.reduce_axis((0, 64), name="k")
    c = te.compute((32, 64), lambda i, j: te.sum(
        a[i, k].astype("int32") * b[j, k].astype("int32"), axis=k), name="c")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c]).with_attr("global_symbol",
                                                                          "main")})


def build_recording_pid(mod, target, params):
    """fast_build, leaving this worker's pid in $FISCHED_TEST_PIDS' folder."""
    from fisched.build import fast_build

    out = fast_build(mod, target, params)
    folder = os.environ["FISCHED_TEST_PIDS"]
    open(os.path.join(folder, str(os.getpid())), "w").close()
    return out


def build_without_registry(mod, target, params):
    """fast_build, failing if it made the worker import the intrinsic registry."""
    from fisched.build import fast_build

    out = fast_build(mod, target, params)
    if INTRIN in sys.modules:
        raise AssertionError(f"{INTRIN} was imported by the build")
    return out


def build_failing_or_hanging(mod, target, params):
    from fisched.build import fast_build

    kind = os.environ["FISCHED_TEST_MODE"]
    if kind == "raise":
        raise RuntimeError("injected build failure")
    if kind == "hang":
        time.sleep(60)
    return fast_build(mod, target, params)


def _inputs(mod, target, n):
    from tvm.s_tir import meta_schedule as ms

    return [ms.builder.BuilderInput(mod, target) for _ in range(n)]


def test_workers_live_across_batches(tmp_path, monkeypatch, target):
    """Three batches of two builds on two workers: at most two processes ever built anything
    (LocalBuilder starts two new ones per batch); after close(), new workers start."""
    from test_tune import _matmul_task

    from fisched.build import make_builder

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
    try:
        builder.build(_inputs(mod, target, 1))
    finally:
        builder.close()
    assert set(os.listdir(tmp_path)) - first, "close() should have stopped the old workers"


def test_failed_and_timed_out_builds_are_reported_and_the_pool_recovers(monkeypatch, target):
    from test_tune import _matmul_task

    from fisched.build import make_builder

    mod = _matmul_task().mod
    builder = make_builder(1, timeout_sec=3, f_build=build_failing_or_hanging)
    try:
        monkeypatch.setenv("FISCHED_TEST_MODE", "raise")
        (failed,) = builder.build(_inputs(mod, target, 1))
        assert failed.artifact_path is None and "injected build failure" in failed.error_msg
        monkeypatch.setenv("FISCHED_TEST_MODE", "hang")
        start = time.time()
        (hung,) = builder.build(_inputs(mod, target, 1))
        assert "Timeout" in hung.error_msg and time.time() - start < 30
        monkeypatch.setenv("FISCHED_TEST_MODE", "ok")
        (good,) = builder.build(_inputs(mod, target, 1))
        assert good.error_msg is None
    finally:
        builder.close()


def test_tensorized_cpu_kernels_build_without_the_intrinsic_registry():
    """The VNNI rule set tensorizes an int8 matmul with ``dot_16x4_vnni``; once the schedule is
    post-processed the intrinsic's body is in the TIR, and the builder compiles it without
    importing ``tvm.s_tir.tensor_intrin`` (in a fresh worker, where nothing imported it)."""
    from tvm.s_tir import meta_schedule as ms

    from fisched.build import intrinsics_for, make_builder
    from fisched.target import make_target

    target = make_target(VNNI_TARGET)
    with intrinsics_for(target):
        ctx = ms.TuneContext(mod=_int8_matmul(), target=target,
                             space_generator="post-order-apply", search_strategy="replay-trace")
    mods = []
    for sch in ctx.generate_design_space():
        sch = sch.copy()
        assert all(p.apply(sch) for p in ctx.space_generator.postprocs)
        mods.append(sch.mod)
    assert any("vpdpbusd" in m.script() for m in mods), "no candidate was tensorized"
    builder = make_builder(1, f_build=build_without_registry)
    try:
        results = builder.build([ms.builder.BuilderInput(m, target) for m in mods])
    finally:
        builder.close()
    assert [r.error_msg for r in results] == [None] * len(mods)


def test_contexts_load_only_the_target_familys_intrinsics():
    """TuneContext imports every tensor intrinsic (35 s); for a CPU target only its family's
    module is loaded while contexts are made, and the placeholder package is gone afterwards,
    so a later plain import still runs the real package (without registering x86 twice)."""
    script = f"""
import sys
from tvm.s_tir import meta_schedule as ms
from fisched.build import intrinsics_for
from fisched.target import make_target
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
    from fisched.build import intrinsic_family
    from fisched.target import make_target

    assert intrinsic_family(make_target(VNNI_TARGET)) == "x86"
    arm = make_target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "generic"})
    assert intrinsic_family(arm) == "arm_cpu"
    assert intrinsic_family(make_target({"kind": "cuda", "arch": "sm_80"})) is None
