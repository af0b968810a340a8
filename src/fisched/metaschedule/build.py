"""Builder and runner for MetaSchedule, without the stock builder's start-up costs.

MetaSchedule's ``default_build`` imports ``tvm.s_tir.tensor_intrin`` (every CUDA, ROCm, Hexagon,
ARM... intrinsic parsed from TVMScript: 35 CPU-seconds on a znver5 host) in every builder worker,
and ``LocalBuilder`` starts fresh workers for every batch, so each batch of candidates paid that
import again. Two fixes here:

- ``fast_build`` never imports the intrinsics for CPU (``llvm``) targets: a tensorized block's
  body is already inlined into the TIR the builder receives, so lowering never looks one up
  (``tests/test_build.py`` builds the AVX-512 rule set's candidates in a worker that way).
- ``PersistentBuilder`` keeps its worker processes alive across batches (MetaSchedule's
  ``PyBuilder`` interface), so a worker pays the ``import tvm`` once per tuning run.
- ``start_workers`` starts those workers and the runner's in the background, so that their
  start overlaps with the task extraction instead of following it; a collection makes one
  runner for all its searches instead of one per search.

In the tuning process, ``TuneContext`` imports the whole intrinsic package too, although a CPU
rule set only needs its own family's (``x86``: VNNI/AVX-512 int8 dot products, 0.2 s);
``intrinsics_for`` imports just that family while contexts are made.

The stock runner also fills every input with random values, integer ones included: an index
tensor (``take``, ``gather``: embeddings, ViT's class token) then points far out of bounds, the
kernel crashes and every candidate of the task fails. ``alloc_arguments`` keeps integer inputs
at zero, an index valid for any non-empty axis.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import tempfile
import types
from contextlib import contextmanager

from .target import arch_family

_INTRIN_MODULE = "tvm.s_tir.tensor_intrin"
_PLACEHOLDER_DOC = "placeholder: only the target family's tensor intrinsics are loaded"


def intrinsic_family(target) -> str | None:
    """The submodule of ``tvm.s_tir.tensor_intrin`` that ``target``'s schedule rules can use
    (``x86``, ``arm_cpu``, ``riscv_cpu``), or None when it may be any (GPUs, other kinds)."""
    if target.kind.name != "llvm":
        return None
    return {"x86_64": "x86", "aarch64": "arm_cpu", "arm": "arm_cpu",
            "riscv64": "riscv_cpu"}.get(arch_family(target))


def fast_build(mod, target, _params):
    """``default_build`` without the intrinsic import for CPU targets (runs in builder workers).

    GPU and other targets still import the intrinsics, as MetaSchedule does: their codegen was
    not checked without them."""
    import tvm
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    if target.kind.name != "llvm":
        import tvm.s_tir.tensor_intrin  # noqa: F401  (registers the intrinsics)
    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm.tirx.build(mod, target=target)  # what the deprecated tvm.driver.build calls


@contextmanager
def intrinsics_for(target):
    """Create MetaSchedule ``TuneContext``s for ``target`` inside this block.

    ``TuneContext.__init__`` imports ``tvm.s_tir.tensor_intrin`` unconditionally (35 s here).
    For a CPU target only its own family is imported: a placeholder package with the real
    package's path stands in for ``tvm.s_tir.tensor_intrin`` during the block, so that
    ``tvm.s_tir.tensor_intrin.x86`` (say) loads without the package's ``__init__``, and it is
    removed afterwards, so a later plain import (a GPU target in the same process) still runs
    the real ``__init__`` (which finds the family already loaded and does not register it twice).
    """
    family = intrinsic_family(target)
    present = sys.modules.get(_INTRIN_MODULE)
    if family is None:
        if present is not None and (present.__doc__ or "").startswith(_PLACEHOLDER_DOC):
            del sys.modules[_INTRIN_MODULE]  # nested inside a CPU target's block: real import
        importlib.import_module(_INTRIN_MODULE)
        yield
        return
    if present is not None:  # the real package, or an enclosing placeholder: add the family
        importlib.import_module(f"{_INTRIN_MODULE}.{family}")
        yield
        return
    spec = importlib.util.find_spec(_INTRIN_MODULE)
    placeholder = types.ModuleType(_INTRIN_MODULE, _PLACEHOLDER_DOC)
    placeholder.__path__ = list(spec.submodule_search_locations)
    sys.modules[_INTRIN_MODULE] = placeholder
    try:
        importlib.import_module(f"{_INTRIN_MODULE}.{family}")
        yield
    finally:
        if sys.modules.get(_INTRIN_MODULE) is placeholder:
            del sys.modules[_INTRIN_MODULE]


def tune_context(mod, target, **kwargs):
    """``ms.TuneContext(mod=mod, target=target, **kwargs)`` made inside ``intrinsics_for``:
    the one way fisched creates a context, so no caller pays the import of every family's
    intrinsics (a bare ``TuneContext`` on a CPU host costs about a minute, cuda's included)."""
    from tvm.s_tir import meta_schedule as ms

    with intrinsics_for(target):
        return ms.TuneContext(mod=mod, target=target, **kwargs)


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


def _build_and_export(f_build, mod, target) -> str:
    """One candidate, in a builder worker: build it and export it as MetaSchedule's default
    export does (a tar of object files the runner links)."""
    from tvm.support.tar import tar

    path = os.path.join(tempfile.mkdtemp(), "tvm_tmp_mod." + tar.output_format)
    f_build(mod, target, None).export_library(path, fcompile=tar)
    return path


def _import_build_modules() -> None:
    """A builder worker's start: what ``_build_and_export`` and ``fast_build`` import."""
    import tvm  # noqa: F401
    import tvm.support.tar  # noqa: F401
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock  # noqa: F401


def _make_persistent_builder_class():
    """``PersistentBuilder``, defined on first use: MetaSchedule is imported lazily."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

    @derived_object
    class PersistentBuilder(PyBuilder):
        """MetaSchedule's ``LocalBuilder`` with worker processes kept across batches.

        ``LocalBuilder.build`` starts a new process pool for every batch, so every batch pays
        the workers' start (``import tvm``, and ``default_build``'s intrinsic import). This one
        starts its pool on the first batch and keeps it until ``close()``. A worker that hits
        the timeout is killed and replaced by the pool, as in ``LocalBuilder``; a build that
        raises or times out is returned as a failed ``BuilderResult`` with its error, which
        MetaSchedule records as a failed trial and writes to the task's log.
        """

        def __init__(self, max_workers: int, timeout_sec: float = 30.0, f_build=None) -> None:
            self.max_workers = max_workers
            self.timeout_sec = timeout_sec
            self.f_build = f_build or fast_build
            self._pool = None
            self._starting: list = []

        def start(self) -> None:
            """Start the worker processes now, in the background, instead of on the first
            batch: each imports tvm (seconds), which then overlaps with what the tuning
            process does before its first batch (task extraction, the search)."""
            if self._pool is None:
                # MetaSchedule restarts LocalBuilder's pool every batch for a memory leak in
                # long-lived popen workers; a worker here is replaced after MAX_USES builds
                self._pool = PopenPoolExecutor(max_workers=self.max_workers,
                                               timeout=self.timeout_sec,
                                               maximum_process_uses=MAX_USES)
                # one job per worker thread: the pool starts a process for each
                self._starting = [self._pool.submit(_import_build_modules)
                                  for _ in range(self.max_workers)]

        def wait_started(self) -> None:
            """Wait until the workers ``start`` began have started (a worker that failed to
            start is replaced when the pool next needs it)."""
            for job in self._starting:
                job.exception()
            self._starting = []

        def build(self, build_inputs):
            self.start()
            self.wait_started()
            args = [(self.f_build, b.mod, b.target) for b in build_inputs]
            results = []
            for res in self._pool.map_with_error_catching(lambda a: _build_and_export(*a), args):
                if res.status == StatusKind.COMPLETE:
                    results.append(BuilderResult(res.value, None))
                elif res.status == StatusKind.TIMEOUT:
                    results.append(BuilderResult(
                        None, f"PersistentBuilder: Timeout, killed after {self.timeout_sec} s"))
                else:
                    results.append(BuilderResult(
                        None, "PersistentBuilder: An exception occurred\n" + str(res.value)))
            return results

        def close(self) -> None:
            """Stop the worker processes (a later ``build`` starts new ones)."""
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    return PersistentBuilder


_PERSISTENT_BUILDER = None
MAX_USES = 256  # builds per worker process before it is replaced (one ``import tvm`` each)


def make_builder(workers: int, timeout_sec: float = 30.0, f_build=None):
    """fisched's builder: ``PersistentBuilder`` running ``fast_build`` (or ``f_build``)."""
    global _PERSISTENT_BUILDER
    if _PERSISTENT_BUILDER is None:
        _PERSISTENT_BUILDER = _make_persistent_builder_class()
    return _PERSISTENT_BUILDER(max_workers=workers, timeout_sec=timeout_sec, f_build=f_build)


class StartingWorkers:
    """A builder's workers and a runner, started in the background (``start_workers``)."""

    def __init__(self, builder, runner_future) -> None:
        self.builder = builder
        self._runner = runner_future

    def runner(self):
        """The runner, once made (re-raises what making it raised)."""
        return self._runner.result()

    def wait(self) -> None:
        """Wait until every worker has started: before this process times anything itself,
        as their imports would share its cores."""
        self.runner()
        if hasattr(self.builder, "wait_started"):
            self.builder.wait_started()


def start_workers(builder, timeout_sec: float = 30.0, **runner_kwargs) -> StartingWorkers:
    """Start ``builder``'s workers (``PersistentBuilder.start``) and make the runner
    (``make_runner(**runner_kwargs)``; a local runner starts its worker and checks it, seconds)
    in the background. A tuning run calls this before its task extraction, so that both are
    ready, or nearly, when its first batch is built."""
    from concurrent.futures import ThreadPoolExecutor

    if hasattr(builder, "start"):
        builder.start()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fisched-runner-start")
    try:
        return StartingWorkers(builder, pool.submit(make_runner, timeout_sec=timeout_sec,
                                                    **runner_kwargs))
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one job


def use_threads(threads: int) -> None:
    """Local runner worker initializer: TVM's thread pool reads ``TVM_NUM_THREADS`` when first
    used, and without it takes half the hardware threads on x86 (it assumes hyper-threading):
    one thread on a 2-vCPU machine, so every candidate would be timed on one core."""
    os.environ["TVM_NUM_THREADS"] = str(threads)


def make_runner(timeout_sec: float = 30.0, rpc_tracker: str | None = None,
                rpc_key: str | None = None, rpc_workers: int = 1, threads: int | None = None):
    """MetaSchedule's local runner, or its RPC runner through a tracker (``HOST:PORT``).

    ``threads``: the local runner's workers time candidates with this many threads (the
    target's cores; default: ``TVM_NUM_THREADS`` as the worker inherits it, else TVM's own
    default). An RPC device's server decides its own."""
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
                                 f_alloc_argument=alloc_arguments,
                                 initializer=None if threads is None
                                 else functools.partial(use_threads, threads))
