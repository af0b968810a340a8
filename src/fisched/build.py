"""Builder and runner for MetaSchedule, without the stock build function's start-up trap.

MetaSchedule's ``default_build`` imports ``tvm.s_tir.tensor_intrin`` in every fresh builder
worker (~25 CPU-seconds each), and ``LocalBuilder`` re-creates its workers for every batch, so on
a loaded 2-core machine candidates time out and "fail to build". ``fast_build`` does the same
lowering but imports the intrinsics only for targets whose schedule rules tensorize.

The stock runner also fills every input with random values, integer ones included: an index
tensor (``take``, ``gather``: embeddings, ViT's class token) then points far out of bounds, the
kernel crashes and every candidate of the task fails. ``alloc_arguments`` keeps integer inputs
at zero, an index valid for any non-empty axis.
"""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager

# Target kinds whose MetaSchedule rules may emit tensor intrinsics.
_TENSORIZING_KINDS = {"cuda", "rocm", "vulkan", "metal", "opencl", "hexagon"}
_X86_ARCHS = ("x86_64", "amd64", "i386", "i686")


def target_tensorizes(target) -> bool:
    """Whether MetaSchedule's default rules for ``target`` may use tensor intrinsics.

    Mirrors the rule-set choice in MetaSchedule's ``GetRuleKindFromTarget``: an ``llvm`` target
    gets the plain "llvm" rules only on x86 without VNNI (avx512vnni/avxvnni) and without
    avx512f+avx512bw; x86 with those gets the "vnni"/"avx512" rules, and ARM (asimd/dotprod) or
    RISC-V (vector) targets get intrinsic rule sets as well, so every non-x86 CPU counts as
    tensorizing here. When in doubt, this says yes: the cost is an import, not a wrong build.
    """
    if target.kind.name in _TENSORIZING_KINDS:
        return True
    if target.kind.name != "llvm":
        return False
    import platform

    from tvm.target import codegen

    triple = str(target.attrs.get("mtriple", "") or "") or platform.machine()
    if not triple.lower().startswith(_X86_ARCHS):
        return True

    def has(feature: str) -> bool:
        return bool(codegen.llvm_cpu_has_features([feature], target))

    try:
        return has("avx512vnni") or has("avxvnni") or (has("avx512f") and has("avx512bw"))
    except Exception:  # unknown feature names on this LLVM: be safe, import them
        return True


def fast_build(mod, target, _params):
    """``default_build`` minus the unconditional intrinsic import (runs in builder workers)."""
    import tvm
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    if target_tensorizes(target):
        import tvm.s_tir.tensor_intrin  # noqa: F401  (registers the intrinsics)
    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm.tirx.build(mod, target=target)  # what the deprecated tvm.driver.build calls


_INTRIN_MODULE = "tvm.s_tir.tensor_intrin"
_PLACEHOLDER_DOC = "placeholder: no tensor intrinsics needed"


@contextmanager
def intrinsics_only_if_needed(target):
    """Create MetaSchedule ``TuneContext``s for ``target`` inside this block.

    ``TuneContext.__init__`` imports ``tvm.s_tir.tensor_intrin`` unconditionally: every CUDA, ROCm,
    Hexagon... intrinsic is parsed from TVMScript, 20-30 s of the main process's start on this
    machine, before the first candidate. When ``target``'s schedule rules cannot tensorize, a
    placeholder module stands in for it during the block and is removed afterwards, so a later
    import (a tensorizing target in the same process) still gets the real intrinsics.
    """
    present = sys.modules.get(_INTRIN_MODULE)
    if target_tensorizes(target):
        if present is not None and (present.__doc__ or "").startswith(_PLACEHOLDER_DOC):
            del sys.modules[_INTRIN_MODULE]  # nested inside a non-tensorizing block: real import
        yield
        return
    if present is not None:
        yield
        return
    placeholder = types.ModuleType(_INTRIN_MODULE, _PLACEHOLDER_DOC)
    sys.modules[_INTRIN_MODULE] = placeholder
    try:
        yield
    finally:
        if sys.modules.get(_INTRIN_MODULE) is placeholder:
            del sys.modules[_INTRIN_MODULE]


def is_integer_dtype(dtype) -> bool:
    """A scalar ``int``/``uint`` of 8 to 64 bits, as numpy can zero-fill it (``bool``, whose
    random fill is in range anyway, vector and sub-byte types keep the random fill)."""
    import tvm_ffi

    t = tvm_ffi.dtype(str(dtype))
    return t.type_code in (0, 1) and t.bits in (8, 16, 32, 64) and t.lanes == 1


def fill_arguments(f_random_fill, device, args_info, alloc_repeat: int) -> list[list]:
    """MetaSchedule's own ``alloc_argument_common`` with integer tensors zero-filled instead of
    random (see the module docstring); the float ones get ``f_random_fill`` as before."""
    import numpy as np
    from tvm.s_tir.meta_schedule.runner.utils import alloc_argument_common

    for info in args_info:  # MetaSchedule's own filler would fail on them less clearly
        if info[0] != "TENSOR":
            raise NotImplementedError(info)

    def fill(arg) -> None:
        if is_integer_dtype(arg.dtype):
            arg.copyfrom(np.zeros(arg.shape, dtype=str(arg.dtype)))
        else:
            f_random_fill(arg)

    return alloc_argument_common(fill, device, args_info, alloc_repeat)


def alloc_arguments(device, args_info, alloc_repeat: int) -> list[list]:
    """``LocalRunner``'s ``f_alloc_argument`` (runs in its worker process)."""
    import tvm

    fill = tvm.get_global_func("tvm.contrib.random.random_fill_for_measure")
    return fill_arguments(fill, device, args_info, alloc_repeat)


def alloc_arguments_rpc(session, device, args_info, alloc_repeat: int) -> list[list]:
    """``RPCRunner``'s ``f_alloc_argument``: the same, filled on the RPC server's device."""
    fill = session.get_function("tvm.contrib.random.random_fill_for_measure")
    return fill_arguments(fill, device, args_info, alloc_repeat)


def make_builder(workers: int, timeout_sec: float = 30.0):
    from tvm.s_tir import meta_schedule as ms

    return ms.builder.LocalBuilder(max_workers=workers, timeout_sec=timeout_sec,
                                   f_build=fast_build)


def make_runner(timeout_sec: float = 30.0, rpc_tracker: str | None = None,
                rpc_key: str | None = None, rpc_workers: int = 1):
    """MetaSchedule's local runner, or its RPC runner through a tracker (``HOST:PORT``)."""
    from tvm.s_tir import meta_schedule as ms

    evaluator = ms.runner.EvaluatorConfig(number=3, repeat=1, min_repeat_ms=100,
                                          enable_cpu_cache_flush=False)
    if rpc_tracker:
        host, _, port = rpc_tracker.rpartition(":")
        rpc = ms.runner.RPCConfig(tracker_host=host, tracker_port=int(port), tracker_key=rpc_key,
                                  session_timeout_sec=max(60, int(timeout_sec) * 2))
        return ms.runner.RPCRunner(rpc_config=rpc, evaluator_config=evaluator,
                                   max_workers=rpc_workers, f_alloc_argument=alloc_arguments_rpc)
    return ms.runner.LocalRunner(timeout_sec=timeout_sec, evaluator_config=evaluator,
                                 f_alloc_argument=alloc_arguments)
