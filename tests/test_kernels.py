"""The register-tiled design space: which blocks it takes, the loop structure it builds, and
that every sampled candidate computes what the unscheduled function computes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper


def _block_model() -> onnx.ModelProto:
    """A conv + BN + residual add + ReLU (the epilogue the rule folds into its write-back), then
    a dense layer and an activation x activation matmul."""
    from fisched.models.zoo import GraphBuilder

    g = GraphBuilder(seed=3)
    x = g.conv_bn("input", 32, 32, 3, act=None)
    x = g.op("Relu", [g.op("Add", [x, "input"])])
    x = g.op("Reshape", [x, g.const(np.array([1, 32, 36], np.int64))])  # (1, 32, 6*6)
    y = g.dense(x, 36, 32)  # (1, 32, 32)
    z = g.op("MatMul", [y, g.op("Transpose", [y], perm=[0, 2, 1])])
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 32, 6, 6])
    return g.model([inp], z, [1, 32, 32], "blocks")


@pytest.fixture(scope="module")
def tasks(tmp_path_factory, target):
    from fisched.metaschedule.tasks import extract
    from fisched.models.frontend import load_model

    path = tmp_path_factory.mktemp("kernels") / "blocks.onnx"
    onnx.save(_block_model(), str(path))
    # weights as-is: a layout-free weight would be read in a layout of the schedule's own
    return extract(load_model(str(path), layout="nhwc"), target)


def _task(tasks, word):
    picked = [t for t in tasks if word in t.name]
    assert picked, [t.name for t in tasks]
    return max(picked, key=lambda t: t.flops)


def _main_block(sch):
    """The function's multiply-accumulate block (the only one with a reduction)."""
    from tvm.tirx import IterVar

    for block in sch.get_child_blocks(sch.get_sblock("root")):
        if any(iv.iter_type == IterVar.CommReduce for iv in sch.get(block).iter_vars):
            return block
    raise AssertionError("no reduction block")


def test_vector_unit_follows_the_target_not_the_host():
    import tvm

    from fisched.metaschedule.target import VectorUnit, vector_unit

    def unit(**spec):
        return vector_unit(tvm.target.Target({"kind": "llvm", **spec}))

    assert unit(mcpu="skylake-avx512") == VectorUnit(512, 32)
    assert unit(mcpu="haswell") == VectorUnit(256, 16)
    assert unit(mcpu="x86-64") == VectorUnit(128, 16)
    assert unit(mtriple="aarch64-linux-gnu", mcpu="cortex-a72") == VectorUnit(128, 32)
    assert VectorUnit(512, 32).lanes(32) == 16 and VectorUnit(256, 16).lanes(32) == 8
    # fewer registers, smaller register tiles
    assert VectorUnit(256, 16).max_rows * VectorUnit(256, 16).max_vectors < 16
    assert VectorUnit(512, 32).max_rows * VectorUnit(512, 32).max_vectors <= 32


def test_plan_takes_conv_and_dense_and_leaves_strided_reads(tasks, target):
    from tvm import s_tir

    from fisched.metaschedule.kernels import _plan, vector_unit

    unit = vector_unit(target)
    conv = _task(tasks, "conv2d")
    sch = s_tir.Schedule(conv.mod)
    plan = _plan(sch, _main_block(sch), unit)
    # NHWC: n, h, w, c | kh, kw, ci -> vectors along c, register rows along w
    assert plan is not None and (plan.vector, plan.row) == (3, 2)
    assert plan.reduction == [4, 5, 6] and plan.lanes == unit.lanes(32)

    dense = _task(tasks, "matmul")
    sch = s_tir.Schedule(dense.mod)
    plan = _plan(sch, _main_block(sch), unit)
    assert plan is not None and len(plan.reduction) == 1

    # y @ y^T: the transpose is a task of its own, so the matmul reads B[b, k, j]: contiguous
    others = [t for t in tasks if "matmul" in t.name and t is not dense]
    assert others, [t.name for t in tasks]
    for t in others:
        sch = s_tir.Schedule(t.mod)
        assert _plan(sch, _main_block(sch), unit) is not None, t.name

    # C[i, j] += A[i, k] * B[j, k] with B an activation: j, the vector axis, strides through B
    import tvm
    from tvm import te

    a = te.placeholder((32, 64), name="A")
    b = te.placeholder((48, 64), name="B")
    k = te.reduce_axis((0, 64), name="k")
    c = te.compute((32, 48), lambda i, j: te.sum(a[i, k] * b[j, k], axis=k), name="C")
    sch = s_tir.Schedule(tvm.IRModule({"main": te.create_prim_func([a, b, c])}))
    assert _plan(sch, sch.get_sblock("C"), unit) is None
    # the same with B marked layout-free (a prepacked weight): RewriteLayout makes it contiguous
    func = te.create_prim_func([a, b, c]).with_attr("layout_free_buffers", [1])
    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    assert _plan(sch, sch.get_sblock("C"), unit) is not None

    # an elementwise block is not a multiply-accumulate
    sch = s_tir.Schedule(_task(tasks, "transpose").mod)
    block = sch.get_child_blocks(sch.get_sblock("root"))[0]
    assert _plan(sch, block, unit) is None


def _design_space(task, target, kernels, seed):
    from tvm.s_tir import meta_schedule as ms

    from fisched.metaschedule.build import intrinsics_for
    from fisched.metaschedule.kernels import space_generator

    with intrinsics_for(target):
        ctx = ms.TuneContext(mod=task.mod, target=target,
                             space_generator=space_generator(target, task.mod, kernels),
                             task_name=task.name, rand_state=seed, num_threads=2)
    return ctx, ctx.generate_design_space()


def _run(mod, target, args):
    import tvm

    lib = tvm.tirx.build(mod, target=target)
    dev = tvm.cpu()
    tensors = [tvm.runtime.tensor(a, dev) for a in args]
    lib(*tensors)
    return tensors[-1].numpy()


@pytest.mark.slow
@pytest.mark.parametrize("word", ["conv2d", "matmul"])
def test_register_tiled_candidates_compute_the_same(tasks, target, word):
    """Several sampled candidates of the conv (with its fused BN/residual/ReLU epilogue) and of
    the dense layer, post-processed as MetaSchedule does, match the unscheduled function."""

    from fisched.metaschedule.kernels import TILED_MARK

    task = _task(tasks, word)
    rng = np.random.default_rng(0)
    params = task.mod["main"].params
    args = [rng.standard_normal([int(d) for d in p.shape]).astype("float32") for p in params]
    args[-1] = np.zeros_like(args[-1])
    expected = _run(task.mod, target, [a.copy() for a in args])
    checked = 0
    for seed in range(4):
        ctx, spaces = _design_space(task, target, "register-tiled", seed)
        assert len(spaces) == 1  # the rule replaces MultiLevelTiling's spaces for this block
        sch = spaces[0]
        text = sch.mod.script()
        assert TILED_MARK in text and "T.vectorized" in text
        # bias, residual add and ReLU are folded into the write-back: no block of their own
        blocks = [b for b in sch.get_child_blocks(sch.get_sblock("root"))]
        assert len([b for b in blocks if "relu" in sch.get(b).name_hint.lower()]) == 0
        for postproc in ctx.space_generator.postprocs:
            assert postproc.apply(sch), type(postproc).__name__
        got = _run(sch.mod, target, [a.copy() for a in args])
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        checked += 1
    assert checked == 4


def test_stock_kernels_keep_metaschedules_rules(tasks, target):
    from fisched.metaschedule.kernels import TILED_MARK

    _, spaces = _design_space(_task(tasks, "conv2d"), target, "stock", 0)
    assert len(spaces) >= 1
    assert all(TILED_MARK not in s.mod.script() for s in spaces)
    assert any("tiling_structure" in s.mod.script() for s in spaces)  # MultiLevelTiling's mark
