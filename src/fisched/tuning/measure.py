"""Latency of compiled models and of the reference framework, with a numerical check."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import FischedError
from ..metaschedule.target import make_target, num_cores
from ..workdir import LIBRARY_FILE, read_meta


@dataclass
class Latency:
    """Per-run latencies in milliseconds, summarized as a median with its spread."""

    name: str
    runs_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def spread_ms(self) -> tuple[float, float]:
        """10th and 90th percentile (min and max when there are few runs)."""
        runs = sorted(self.runs_ms)
        lo = runs[int(0.1 * (len(runs) - 1))]
        hi = runs[int(round(0.9 * (len(runs) - 1)))]
        return lo, hi

    def as_dict(self) -> dict:
        return {**asdict(self), "median_ms": self.median_ms, "spread_ms": list(self.spread_ms)}


def rotated(items: list, round_index: int) -> list:
    """``items`` in the order of round ``round_index`` when the order turns each round
    (A B C, B C A, C A B, ...): no item always follows the same other one."""
    shift = round_index % len(items)
    return items[shift:] + items[:shift]


def time_alternating(fns: dict[str, Callable[[], object]], budget_s: float = 10.0,
                     rounds: int = 6, min_runs: int = 3, max_runs: dict[str, int] | None = None,
                     default_max_runs: int = 50, rotate: bool = True) -> list[Latency]:
    """Time several callables in interleaved rounds, so that drift of a shared machine hits all
    of them alike; each gets about ``budget_s`` in total, and at most ``max_runs[name]`` (else
    ``default_max_runs``) runs. With ``rotate`` the order turns each round (A B C, B C A,
    C A B, ...), so no callable always runs right after the same other one (a framework's
    spinning threads or its cache footprint would otherwise tax one neighbour only)."""
    per_round = {}
    for name, fn in fns.items():  # warm-up, which also sizes each callable's runs per round
        calls = []
        for _ in range(3):  # the first call pays one-off set-up; size on the fastest
            start = time.perf_counter()
            fn()
            calls.append(time.perf_counter() - start)
            if sum(calls) > budget_s / 4:  # a slow callable: one or two calls are enough
                break
        cap = (max_runs or {}).get(name, default_max_runs)
        total = int(max(min_runs, min(cap, budget_s / max(min(calls), 1e-6))))
        per_round[name] = max(1, -(-total // rounds))
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in rotated(names, r if rotate else 0):
            fn = fns[name]
            for _ in range(per_round[name]):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1e3)
    return [Latency(name, runs) for name, runs in times.items()]


def time_against_reference(model, runner: VMRunner, name: str, budget_s: float,
                           extra: dict[str, Callable[[], object]] | None = None,
                           max_runs: dict[str, int] | None = None, default_max_runs: int = 50
                           ) -> tuple[list[Latency], float | None]:
    """Time the compiled model (``runner``, row ``name``), the model's reference framework and
    any ``extra`` callables in alternating rounds, in that order; also return the tuned output's
    max relative error against the reference (None without a reference)."""
    fns = {name: runner.timer(model.inputs)}
    error = None
    if model.reference is not None:
        error = max_relative_error(runner(model.inputs), model.reference.run(model.inputs))
        fns[model.reference.name] = lambda: model.reference.run(model.inputs)
    fns.update(extra or {})
    return time_alternating(fns, budget_s, max_runs=max_runs,
                            default_max_runs=default_max_runs), error


def time_side_by_side(model, runners: dict[str, VMRunner], budget_s: float
                      ) -> tuple[dict[str, dict], float | None]:
    """Compiled models (name -> ``VMRunner``) and ``model``'s reference timed in rotating rounds,
    each for as many runs as ``budget_s`` allows (a capped count, ~50, is under a second for a
    small model, which a burst of other work can swamp). Returns name -> {median_ms, spread_ms,
    runs} and the first runner's max relative error against the reference (None without one)."""
    (first, runner), *others = runners.items()
    timed, error = time_against_reference(
        model, runner, first, budget_s,
        extra={name: r.timer(model.inputs) for name, r in others}, default_max_runs=100_000)
    return {t.name: {"median_ms": t.median_ms, "spread_ms": list(t.spread_ms),
                     "runs": len(t.runs_ms)} for t in timed}, error


class VMRunner:
    """A compiled Relax executable loaded on the CPU, called with numpy inputs."""

    def __init__(self, executable) -> None:
        import tvm
        from tvm import relax

        if isinstance(executable, str):
            executable = tvm.runtime.load_module(executable)
        self.device = tvm.cpu()
        self.vm = relax.VirtualMachine(executable, self.device)

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        import tvm

        args = [tvm.runtime.tensor(v, self.device) for v in inputs.values()]
        out = self.vm["main"](*args)
        while not hasattr(out, "numpy"):  # tuples of one output
            out = out[0]
        return out.numpy()

    def timer(self, inputs: dict[str, np.ndarray]) -> Callable[[], object]:
        """A zero-argument call with inputs already on the device, for timing."""
        import tvm

        args = [tvm.runtime.tensor(v, self.device) for v in inputs.values()]
        main = self.vm["main"]

        def call():
            out = main(*args)
            self.device.sync()
            return out

        return call


def max_relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual - expected| / max |expected|: scale-free, robust to near-zero elements."""
    scale = float(np.max(np.abs(expected))) or 1.0
    return float(np.max(np.abs(actual.astype(np.float64) - expected))) / scale


def onnxruntime_node_profile(model_bytes: bytes, feeds: dict[str, np.ndarray], threads: int,
                             runs: int = 50) -> list[dict]:
    """ONNX Runtime's own per-node times (``SessionOptions.enable_profiling``) over ``runs``
    runs after a warm-up, same threads as fisched's timings: one row per node of the optimized
    graph, ``{"node", "op", "calls", "median_us"}``, slowest first. ``op`` is the kernel ORT
    ran (``FusedConv``, ``ReorderInput`` for its NCHWc layout changes, ...), so the rows say
    where ORT's time goes, reorders included."""
    import json
    import os
    import tempfile
    from pathlib import Path

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    with tempfile.TemporaryDirectory() as tmp:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
        for _ in range(5):
            session.run(None, feeds)
        for _ in range(runs):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[str, list[float]] = {}
    ops: dict[str, str] = {}
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        node = event["name"][: -len("_kernel_time")]
        per_node.setdefault(node, []).append(float(event["dur"]))
        ops[node] = event.get("args", {}).get("op_name", "")
    rows = []
    for node, durs in per_node.items():
        durs = durs[-runs:]  # the warm-up's events come first
        rows.append({"node": node, "op": ops[node], "calls": len(durs),
                     "median_us": statistics.median(durs)})
    return sorted(rows, key=lambda r: -r["median_us"])


def _flatten_outputs(out) -> list[np.ndarray]:
    if hasattr(out, "numpy"):
        return [out.numpy()]
    return [a for item in out for a in _flatten_outputs(item)]


def run_library(workdir, inputs_path, output_path=None, repeat: int = 10) -> dict:
    """``fisched run``: the workdir's ``model.so`` on the arrays of an ``.npz`` file.

    The file must hold every model input by name (``fisched.json`` lists them) with the shape
    and dtype the model was tuned for; anything else is refused before the library is loaded.
    Runs once for the outputs (written to ``output_path`` as ``output0``, ``output1``, ...),
    then ``repeat`` timed runs at ``TVM_NUM_THREADS`` (default: the target's cores)."""
    import os
    from pathlib import Path

    if repeat <= 0:
        raise FischedError(f"--repeat must be positive, got {repeat}")
    workdir = Path(workdir)
    meta = read_meta(workdir)  # refuses a workdir that was never tuned
    library = workdir / LIBRARY_FILE
    if not library.exists():
        raise FischedError(f"{workdir} has no {LIBRARY_FILE}; run fisched tune to compile it")
    try:
        with np.load(inputs_path) as npz:
            given = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as err:
        raise FischedError(f"cannot read inputs {inputs_path}: {err}") from None
    feeds = {}
    for name, (shape, dtype) in meta["inputs"].items():
        if name not in given:
            raise FischedError(f"{inputs_path} has no array {name!r} (the model's inputs: "
                               f"{', '.join(meta['inputs'])})")
        arr = given[name]
        if list(arr.shape) != list(shape) or str(arr.dtype) != dtype:
            raise FischedError(f"input {name!r} is {list(arr.shape)} {arr.dtype}, the model "
                               f"was tuned for {shape} {dtype}")
        feeds[name] = np.ascontiguousarray(arr)
    os.environ.setdefault("TVM_NUM_THREADS", str(num_cores(make_target(meta["target"]))))
    import tvm

    runner = VMRunner(str(library))
    args = [tvm.runtime.tensor(v, runner.device) for v in feeds.values()]
    outputs = _flatten_outputs(runner.vm["main"](*args))
    if output_path:
        np.savez(output_path, **{f"output{i}": o for i, o in enumerate(outputs)})
    call = runner.timer(feeds)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return {"library": str(library), "threads": int(os.environ["TVM_NUM_THREADS"]),
            "repeat": repeat, "median_ms": statistics.median(times), "runs_ms": times,
            "outputs": {f"output{i}": list(o.shape) for i, o in enumerate(outputs)}}
