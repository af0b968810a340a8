"""How close do fisched's kernels get to ONNX Runtime's and to the machine, op by op?

    .venv/bin/python benchmarks/kernel_roofline.py resnet18 mobilenet_v2 bert --trials 64

For each model, its heaviest Conv/MatMul/Gemm nodes (by FLOPs, ``--per-model`` of them, one
per distinct shape) are cut out as single-node ONNX models (weights as constants, the
activations as inputs). Each is then

- tuned by fisched, the CLI's defaults for the host (prepacked weights, NHWC convolutions,
  stock XGBModel; ``--layouts nhwc,as-is`` adds the model file's layout, to see what the
  layout buys), on its heaviest task only, ``--trials`` trials in rounds of
  ``--trials-per-iter`` (so the cost model steers later rounds); fisched's GFLOPS is the
  node's FLOPs over the best measured kernel time;
- run by ONNX Runtime at the same threads, ``enable_profiling`` on: the reference GFLOPS is
  the same FLOPs over the median time of ORT's compute kernel alone (its NCHWc reorders, which
  fisched's figure does not contain either, are left out; they are listed per node);
- set against the host's sgemm (numpy, 2048^3, all cores), the practical fp32 ceiling.

Writes ``results/ort_gap/kernels.json``: ``{"host_cpu", "sgemm_gflops", "tasks": [{"model",
"task", "trials", "gflops", "reference_gflops", "ratio", ...}]}`` and a Markdown table.
Resumable: a task whose workdir holds ``--trials`` records is not tuned again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

HEAVY_OPS = ("Conv", "MatMul", "Gemm")
ORT_KERNELS = ("Conv", "FusedConv", "NchwcConv", "MatMul", "FusedMatMul", "Gemm")


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[vi.name] = dims
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def node_flops(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> float:
    """Multiply-adds x 2 of a Conv (any groups), MatMul (batched) or Gemm node."""
    if node.op_type == "Conv":
        out, w = shapes[node.output[0]], shapes[node.input[1]]
        return 2.0 * np.prod(out) * np.prod(w[1:])
    a, out = shapes[node.input[0]], shapes[node.output[0]]
    transposed = any(at.name == "transA" and at.i for at in node.attribute)
    k = a[-2] if transposed else a[-1]
    return 2.0 * np.prod(out) * k


def single_node_model(model: onnx.ModelProto, node: onnx.NodeProto,
                      shapes: dict[str, list[int]]) -> onnx.ModelProto:
    """``node`` alone: its initializers kept, every other input a graph input."""
    inits = {i.name: i for i in model.graph.initializer}
    constants = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant"}
    kept, inputs = [], []
    for name in node.input:
        if not name:
            continue
        if name in inits:
            kept.append(inits[name])
        elif name in constants:
            value = next(a.t for a in constants[name].attribute if a.name == "value")
            kept.append(numpy_helper.from_array(numpy_helper.to_array(value), name))
        else:
            inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                        shapes[name]))
    out = helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT,
                                        shapes[node.output[0]])
    graph = helper.make_graph([node], f"{node.op_type}_{node.output[0]}", inputs, [out], kept)
    single = helper.make_model(graph, opset_imports=list(model.opset_import))
    single.ir_version = model.ir_version
    onnx.checker.check_model(single)
    return single


def heaviest_nodes(model: onnx.ModelProto, count: int) -> list[tuple[onnx.NodeProto, float]]:
    """The ``count`` heaviest conv/matmul nodes, one per distinct (op, shapes, attributes)."""
    shapes = _shapes(model)
    seen, picked = set(), []
    nodes = [n for n in model.graph.node if n.op_type in HEAVY_OPS
             and all(i in shapes for i in n.input if i) and n.output[0] in shapes]
    for node in sorted(nodes, key=lambda n: -node_flops(n, shapes)):
        key = (node.op_type, tuple(tuple(shapes[i]) for i in node.input if i),
               tuple(str(a) for a in node.attribute))
        if key not in seen:
            seen.add(key)
            picked.append((node, node_flops(node, shapes)))
        if len(picked) == count:
            break
    return picked


def ort_kernel_us(single: onnx.ModelProto, feeds: dict, threads: int) -> tuple[float, list]:
    from fisched.measure import onnxruntime_node_profile

    rows = onnxruntime_node_profile(single.SerializeToString(), feeds, threads, runs=100)
    kernel = sum(r["median_us"] for r in rows if r["op"] in ORT_KERNELS)
    return kernel, rows


def tune_heaviest_task(path: Path, workdir: Path, trials: int, per_iter: int, seed: int,
                       layout: str):
    """(task name, best kernel seconds) after tuning the single-node model's heaviest task."""
    from fisched.cost_models import make_cost_model
    from fisched.frontend import load_model
    from fisched.records import best_seconds, open_database, records_by_task
    from fisched.target import make_target, num_cores
    from fisched.tune import extract, run_search

    target = make_target()
    model = load_model(str(path), prepack=True, layout=layout)
    task = max(extract(model, target), key=lambda t: t.flops)
    workdir.mkdir(parents=True, exist_ok=True)
    database = open_database(workdir)
    done = len(records_by_task(database, [task.mod])[0])
    if done < trials:
        run_search([task], workdir, database, target, max_trials=trials - done,
                   per_iter=min(per_iter, trials - done), strategy="evolutionary",
                   cost_model=make_cost_model("xgb", num_cores(target), seed), seed=seed,
                   callbacks=[])
    return task.name, best_seconds(records_by_task(database, [task.mod])[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["resnet18", "mobilenet_v2", "bert"])
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--trials-per-iter", type=int, default=16)
    ap.add_argument("--per-model", type=int, default=2, help="heaviest nodes per model")
    ap.add_argument("--layouts", default="nhwc", help="comma-separated: nhwc, as-is")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/kernels")
    ap.add_argument("--out", default="results/ort_gap/kernels.json")
    args = ap.parse_args()

    from fisched.target import default_num_cores, open_host_results
    from fisched.zoo import ZOO, sample_inputs

    out = Path(args.out)
    data, host = open_host_results(out)
    threads = default_num_cores()
    data.update({"host": host, "threads": threads,
                 "sgemm_gflops": sgemm_gflops()})
    tasks = {(t["model"], t["node"], t["layout"]): t for t in data.get("tasks", [])}
    for model_name in args.models:
        model = ZOO[model_name]()
        shapes = _shapes(model)
        for node, flops in heaviest_nodes(model, args.per_model):
            single = single_node_model(model, node, shapes)
            node_dir = Path(args.runs) / model_name / node.output[0]
            node_dir.mkdir(parents=True, exist_ok=True)
            path = node_dir / "node.onnx"
            onnx.save(single, str(path))
            ref_us, ort_rows = ort_kernel_us(single, sample_inputs(single), threads)
            for layout in args.layouts.split(","):
                task, best = tune_heaviest_task(path, node_dir / layout, args.trials,
                                                args.trials_per_iter, args.seed, layout)
                row = {"model": model_name, "node": node.output[0], "op": node.op_type,
                       "layout": layout,
                       "shapes": {i: shapes[i] for i in node.input if i}, "task": task,
                       "trials": args.trials, "flops": flops, "ms": best * 1e3,
                       "gflops": flops / best / 1e9, "reference_ms": ref_us / 1e3,
                       "reference_gflops": flops / ref_us / 1e3,
                       "ratio": (flops / best / 1e9) / (flops / ref_us / 1e3),
                       "reference_nodes": ort_rows}
                tasks[(model_name, node.output[0], layout)] = row
                print(f"{model_name} {node.op_type} {row['shapes']} {layout}: fisched "
                      f"{row['gflops']:.1f} GFLOPS, onnxruntime {row['reference_gflops']:.1f}, "
                      f"ratio {row['ratio']:.2f}", flush=True)
                data["tasks"] = list(tasks.values())
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(data, indent=2) + "\n")
                out.with_suffix(".md").write_text(markdown(data))


def markdown(data: dict) -> str:
    lines = [f"`benchmarks/kernel_roofline.py`; host `{data['host_cpu']}`, {data['threads']} "
             f"threads; host sgemm {data['sgemm_gflops']:.0f} GFLOPS (numpy 2048^3); fisched: "
             "best measured kernel after the trials, CPU defaults (prepacked, NHWC), stock "
             "XGBModel; onnxruntime: its compute kernel's median from enable_profiling "
             "(reorders excluded)", "",
             "| model | op | shapes | layout | trials | fisched GFLOPS | onnxruntime GFLOPS | "
             "ratio | fisched / sgemm |", "|---|---|---|---|---|---|---|---|---|"]
    for t in data["tasks"]:
        shapes = " ".join("x".join(map(str, s)) for s in t["shapes"].values())
        lines.append(f"| {t['model']} | {t['op']} | {shapes} | {t['layout']} | {t['trials']} | "
                     f"{t['gflops']:.1f} | {t['reference_gflops']:.1f} | {t['ratio']:.2f} | "
                     f"{t['gflops'] / data['sgemm_gflops']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
