"""Register-blocked CPU kernels: a MetaSchedule schedule rule for multiply-accumulate blocks.

MetaSchedule's ``MultiLevelTiling`` samples every tile factor freely, so most candidates it
measures have an innermost tile that is no multiple of the vector width, and the search
plateaus far below what the machine does (results/ort_gap/kernels.md). ONNX Runtime's MLAS gets
its speed from one loop structure, the register-blocked micro-kernel; ``RegisterTiling`` puts
every candidate of a conv2d/matmul/dense block in that structure and samples only the tile sizes:

    [outer spatial tiles]            parallel (MetaSchedule's RewriteParallelVectorizeUnroll)
      [middle spatial tiles]         cache blocking: the weight panel stays hot across rows
        [outer reduction tiles]
          [inner reduction tiles]
            rows (unrolled) x vectors (unrolled) x lanes (vectorized)   accumulators in registers

The output axis that is contiguous in memory (channels in NHWC, columns in a matmul) is split by
the target's vector lanes first and only the rest is sampled, so every candidate vectorizes
fully and MetaSchedule's tile mutator keeps it that way. The accumulator tile is a cache-write
buffer written back (with the block's elementwise epilogue: bias, residual add, ReLU, clamp,
inlined into the write-back) just outside the reduction, so LLVM keeps it in registers. The
register budget follows the target: 32 vector registers with AVX-512 or on AArch64, 16 with
AVX2/SSE, so rows x vectors stays within what is there.

A block the rule does not recognise (no multiply-accumulate form, a non-float output, an output
axis that does not split into whole vectors, an activation read strided along the vector axis)
goes to MetaSchedule's own ``MultiLevelTiling``, unchanged. ``space_generator`` builds the
target's default rule list with ``MultiLevelTiling`` so wrapped; ``kernels="stock"`` keeps
MetaSchedule's list as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import FischedError
from .build import tune_context
from .target import VectorUnit, vector_unit

KERNELS = ("register-tiled", "stock")
DEFAULT_KERNELS = "register-tiled"
"""Kernel search space for CPU targets: ``register-tiled`` (this module's rule in front of
MetaSchedule's MultiLevelTiling) or ``stock`` (MetaSchedule's rules unchanged). Chosen by
``benchmarks/kernel_roofline.py --kernels register-tiled,stock`` (results/ort_gap/kernels.md)."""

TILED_MARK = "fisched.register_tile"
"""Loop annotation on the vectorized lane loop: MetaSchedule's RewriteParallelVectorizeUnroll
leaves an annotated loop alone, so it does not fuse the unrolled register tile into one long
vector."""

log = logging.getLogger("fisched")


@dataclass
class _Plan:
    """How one block is tiled: loop positions of its axes (loops and iter vars are 1:1)."""

    spatial: list[int]
    reduction: list[int]
    vector: int  # position of the axis contiguous in the output
    row: int | None  # position of the axis tiled into register rows
    lanes: int


def _plan(sch, block, unit: VectorUnit) -> _Plan | None:
    """The tiling of ``block``, or None when the rule does not apply to it."""
    from tvm import DataType, tirx
    from tvm.tirx import IterVar

    stmt = sch.get(block)
    loops = sch.get_loops(block)
    iters = list(stmt.iter_vars)
    if len(stmt.writes) != 1 or not loops or len(loops) != len(iters):
        return None
    realize_values = _iter_values(sch, block)
    if realize_values is None:
        return None
    loop_vars = [sch.get(loop).loop_var for loop in loops]
    for value, loop_var, iv, loop in zip(realize_values, loop_vars, iters, loops):
        # trivial bindings only: each iter var is one loop of the same extent, in order
        if not (isinstance(value, tirx.Var) and value.same_as(loop_var)):
            return None
        extent = sch.get(loop).extent
        if not isinstance(extent, tirx.IntImm) or not isinstance(iv.dom.extent, tirx.IntImm) \
                or int(extent) != int(iv.dom.extent):
            return None
    body = stmt.body
    if not isinstance(body, tirx.BufferStore) or not isinstance(body.value, tirx.Add):
        return None
    out = body.buffer
    dtype = str(out.dtype)
    if not dtype.startswith("float") or "x" in dtype:
        return None
    acc, product = body.value.a, body.value.b
    if not (_is_load(acc) and _source(acc).same_as(out)):
        acc, product = product, acc
    if not (_is_load(acc) and _source(acc).same_as(out)
            and isinstance(product, tirx.Mul)):
        return None
    kinds = [iv.iter_type for iv in iters]
    spatial = [i for i, k in enumerate(kinds) if k == IterVar.DataPar]
    reduction = [i for i, k in enumerate(kinds) if k == IterVar.CommReduce]
    if not reduction or not spatial or len(spatial) + len(reduction) != len(iters):
        return None
    var_pos = {iv.var: i for i, iv in enumerate(iters)}
    out_axes = []
    for index in body.indices:
        if not isinstance(index, tirx.Var) or index not in var_pos:
            return None
        out_axes.append(var_pos[index])
    if sorted(out_axes) != sorted(spatial):
        return None
    vector = out_axes[-1]
    extent = int(iters[vector].dom.extent)
    lanes = unit.lanes(DataType(dtype).bits)
    if extent % lanes:
        return None
    if not _vector_reads_contiguous(stmt, iters[vector].var, _layout_free(sch)):
        return None
    row = None
    for pos in reversed(out_axes[:-1]):
        if int(iters[pos].dom.extent) > 1:
            row = pos
            break
    return _Plan(spatial, reduction, vector, row, lanes)


def _is_load(node) -> bool:
    """Whether ``node`` reads a buffer (TVM 0.27 calls the node ``TensorLoad``; its
    ``tirx.BufferLoad`` is a constructor function, not the class)."""
    return type(node).__name__ in ("TensorLoad", "BufferLoad")


def _source(load):
    """The buffer a load reads."""
    source = getattr(load, "source", None)
    return load.buffer if source is None else source


def _iter_values(sch, block):
    """The SBlockRealize's bindings of ``block`` (its parent statement)."""
    from tvm.s_tir import SBlockRealize

    sref = sch.get_sref(block)
    parent = sref.parent
    node = sch.get(parent) if parent is not None else None
    body = getattr(node, "body", None)
    if isinstance(body, SBlockRealize) and body.block.same_as(sch.get(block)):
        return list(body.iter_values)
    return None


def _layout_free(sch) -> list:
    """Buffers of the scheduled function whose layout MetaSchedule may rewrite (prepacked
    weights: ``RewriteLayout`` reorders them to the schedule's access order)."""
    func = sch.mod["main"]
    indices = func.attrs.get("layout_free_buffers", []) if func.attrs else []
    return [func.params[int(i)] for i in indices]  # TVM 0.27: a PrimFunc's params are its buffers


def _vector_reads_contiguous(stmt, var, layout_free: list) -> bool:
    """Whether every read of ``stmt`` that uses the vector axis ``var`` uses it in its last
    dimension only (a contiguous vector load), or is a buffer whose layout is rewritten."""
    from tvm.tirx.analysis import undefined_vars

    for read in stmt.reads:
        if any(read.source.same_as(b) for b in layout_free):
            continue
        for dim, rng in enumerate(read.region[:-1]):
            if any(v.same_as(var) for v in undefined_vars(rng.min)):
                return False
    return True


def register_tile(sch, block, plan: _Plan, unit: VectorUnit):
    """Tile ``block`` into the register-blocked structure (module docstring) with sampled
    tile sizes; returns the write-back block."""
    loops = sch.get_loops(block)
    outer, middle, reduce_outer, reduce_inner = [], [], [], []
    row_reg, vec_reg, lane = [], [], None
    for pos in plan.spatial:
        loop = loops[pos]
        if pos == plan.vector:
            vectors, lane = sch.split(loop, [None, plan.lanes])
            factors = sch.sample_perfect_tile(vectors, n=3, max_innermost_factor=unit.max_vectors)
            o, m, r = sch.split(vectors, factors)
            vec_reg.append(r)
        elif pos == plan.row:
            factors = sch.sample_perfect_tile(loop, n=3, max_innermost_factor=unit.max_rows)
            o, m, r = sch.split(loop, factors)
            row_reg.append(r)
        else:
            factors = sch.sample_perfect_tile(loop, n=2, max_innermost_factor=64)
            o, m = sch.split(loop, factors)
        outer.append(o)
        middle.append(m)
    for pos in plan.reduction:
        factors = sch.sample_perfect_tile(loops[pos], n=2, max_innermost_factor=64)
        ro, ri = sch.split(loops[pos], factors)
        reduce_outer.append(ro)
        reduce_inner.append(ri)
    sch.reorder(*outer, *middle, *reduce_outer, *reduce_inner, *row_reg, *vec_reg, lane)
    write_back = sch.cache_write(block, 0, "global")
    sch.reverse_compute_at(write_back, middle[-1], preserve_unit_loops=True)
    _inline_epilogue(sch, write_back)
    for loop in (*row_reg, *vec_reg):
        sch.unroll(loop)
    sch.vectorize(lane)
    sch.annotate(lane, TILED_MARK, 1)
    return write_back


def _inline_epilogue(sch, write_back) -> None:
    """Fold the elementwise consumers (bias, residual add, activation) of the output into the
    write-back, one at a time while each is the only consumer and inlines."""
    from tvm.s_tir import ScheduleError

    while True:
        consumers = sch.get_consumers(write_back)
        if len(consumers) != 1:
            return
        try:
            sch.reverse_compute_inline(consumers[0])
        except ScheduleError:
            return


def _make_rule_class():
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class RegisterTiling(ms.schedule_rule.PyScheduleRule):
        """The register-blocked tiling (module docstring) for the multiply-accumulate blocks it
        recognises; every other block goes to ``fallback`` (MetaSchedule's MultiLevelTiling)."""

        def __init__(self, unit: VectorUnit, fallback) -> None:
            self.unit = unit
            self.fallback = fallback

        def _initialize_with_tune_context(self, context) -> None:
            self.fallback._initialize_with_tune_context(context)

        def apply(self, sch, block):
            plan = _plan(sch, block, self.unit)
            if plan is None:
                return list(self.fallback.apply(sch, block))
            register_tile(sch, block, plan, self.unit)
            return [sch]

        def clone(self):
            return RegisterTiling(self.unit, self.fallback.clone())

    return RegisterTiling


_RULE_CLASS = None


def register_tiling_rule(unit: VectorUnit, fallback):
    """``RegisterTiling`` for ``unit``, sending unrecognised blocks to ``fallback``."""
    global _RULE_CLASS
    if _RULE_CLASS is None:
        _RULE_CLASS = _make_rule_class()
    return _RULE_CLASS(unit, fallback)


def check_kernels(kernels: str) -> str:
    if kernels not in KERNELS:
        raise FischedError(f"unknown kernels {kernels!r}: choose one of {', '.join(KERNELS)}")
    return kernels


def space_generator(target, mod, kernels: str = DEFAULT_KERNELS):
    """The design-space generator a TuneContext for ``target`` gets: MetaSchedule's
    ``post-order-apply`` with the target's default rules, postprocs and mutators, and for
    ``register-tiled`` on an ``llvm`` target, its MultiLevelTiling rule wrapped by
    ``RegisterTiling``. Anything else: the string ``"post-order-apply"``, as MetaSchedule has it.
    ``mod`` is any task of the run (the rule list depends on the target only)."""
    check_kernels(kernels)
    if kernels == "stock" or target.kind.name != "llvm":
        return "post-order-apply"
    from tvm.s_tir import meta_schedule as ms

    # the rule list MetaSchedule picks for this target (llvm, avx512, vnni, ...) is only known
    # once a context initialises its generator
    probe = tune_context(mod, target, space_generator="post-order-apply")
    stock = probe.space_generator
    unit = vector_unit(target)
    rules = []
    for rule in stock.sch_rules:
        if type(rule) is ms.schedule_rule.MultiLevelTiling:
            rules.append(register_tiling_rule(unit, rule))
        else:
            rules.append(rule)
    return ms.space_generator.PostOrderApply(
        sch_rules=rules, postprocs=list(stock.postprocs),
        mutator_probs=dict(stock.mutator_probs))
