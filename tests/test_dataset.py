"""Datasets from real tuning records: features equal MetaSchedule's own, names line up."""

from __future__ import annotations

import numpy as np
import pytest

from fisched.costmodel.dataset import build_dataset, load_dataset
from fisched.costmodel.features import FEATURE_NAMES, STRUCTURALLY_CONSTANT_CPU, index
from fisched.errors import FischedError


@pytest.fixture(scope="module")
def tuned_tiny(tmp_path_factory):
    """A short real tuning run of the tiny model, with the features MetaSchedule's extractor
    computed for each measured candidate, captured at measurement time."""
    import onnx
    from conftest import tiny_onnx_model
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    from fisched.metaschedule.target import make_target
    from fisched.models.frontend import load_model
    from fisched.tuning.tune import tune

    tmp = tmp_path_factory.mktemp("ds")
    onnx.save(tiny_onnx_model(), str(tmp / "tiny.onnx"))
    captured: list[tuple[str, list[np.ndarray], list[bool]]] = []

    @derived_object
    class Capture(ms.measure_callback.PyMeasureCallback):
        def apply(self, task_scheduler, task_id, candidates, builder_results, runner_results):
            ctx = task_scheduler.tasks_[task_id].ctx
            rows = ms.feature_extractor.PerStoreFeature().extract_from(ctx, candidates)
            ok = [b.error_msg is None and r.error_msg is None
                  for b, r in zip(builder_results, runner_results)]
            captured.append((ctx.task_name, [r.numpy() for r in rows], ok))

    target = make_target(None)
    model = load_model(str(tmp / "tiny.onnx"))
    tune(model, tmp / "w", target, trials=10, progress=False, callbacks=(Capture(),))
    return tmp / "w", captured


@pytest.mark.slow
def test_reextracted_features_equal_measurement_time_features(tuned_tiny, tmp_path):
    workdir, captured = tuned_tiny
    ds = build_dataset([workdir], progress=False)
    ds.save(tmp_path / "d.npz")
    ds = load_dataset(tmp_path / "d.npz")
    # The database keeps records sorted by speed, not in measurement order: match, per task,
    # every dataset program to a distinct captured one with equal features (float tolerance).
    pending: dict[str, list[np.ndarray]] = {}
    for name, rows, _ in captured:
        pending.setdefault(name, []).extend(rows)
    assert ds.n_programs == sum(len(v) for v in pending.values()) >= 10
    for i in range(ds.n_programs):
        candidates = pending[ds.tasks[ds.task_id[i]]["name"]]
        match = next((k for k, rows in enumerate(candidates) if rows.shape == ds.rows(i).shape
                      and np.allclose(rows, ds.rows(i), rtol=1e-4, atol=1e-4)), None)
        assert match is not None, f"program {i} has no measurement-time twin"
        candidates.pop(match)
    assert all(t["weight"] >= 1 for t in ds.tasks)
    assert ds.valid.sum() >= 1 and np.all(ds.latency[ds.valid] > 0)
    # every task knows the machine it was measured on, and dataset info says so
    from fisched.costmodel.dataset import describe, task_host
    from fisched.metaschedule.target import host_info

    here = host_info()
    assert all(task_host(ds, t)["llvm_cpu"] == here["llvm_cpu"] for t in ds.tasks)
    assert all(task_host(ds, t)["isa"] == here["isa"] for t in ds.tasks)
    assert f"host {here['llvm_cpu']} (" in describe(ds)


def test_feature_names_match_the_installed_extractor(tuned_tiny, tmp_path):
    """Columns behave as their names say on real schedules of a CPU target."""
    ds = build_dataset([tuned_tiny[0]], progress=False)
    f = ds.features
    assert f.shape[1] == len(FEATURE_NAMES) == 164
    const = f[:, STRUCTURALLY_CONSTANT_CPU]
    assert np.all(const == const[0])  # mad counters, GPU features, unused loop positions
    gpu_lens = [index(n) for n in FEATURE_NAMES[50:57]]
    assert np.all(f[:, index("is_gpu")] == 0)
    assert np.allclose(f[:, gpu_lens], 1.0)  # extent 1 everywhere; slog(1) = log2(2) = 1
    zero = [i for i in STRUCTURALLY_CONSTANT_CPU if i not in gpu_lens]
    assert np.all(f[:, zero] == 0)
    assert f[:, index("float_addsub")].max() > 0  # convolutions and dense accumulate
    assert f[:, index("float_mul")].max() > 0
    # every store writes some buffer: the heaviest slot B0 is always filled, and is read/written
    b0 = f[:, [index("B0.acc_type.kRead"), index("B0.acc_type.kWrite"),
               index("B0.acc_type.kReadWrite")]]
    assert np.all(b0.sum(axis=1) == 1)
    assert np.all(f[:, index("B0.bytes")] > 0)
    # one-hot position groups hold exactly one 1 per row
    for kind in ("vec", "unroll", "parallel"):
        cols = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith(f"{kind}_type.")]
        assert np.all(f[:, cols].sum(axis=1) == 1)
    # tuned CPU schedules parallelize and vectorize some stores
    assert f[:, index("parallel_num")].max() > 0 and f[:, index("vec_num")].max() > 0
    # slots are sorted by lines, heaviest first
    assert np.all(f[:, index("B0.lines")] >= f[:, index("B1.lines")] - 1e-6)


def test_dataset_format_errors(tmp_path):
    with pytest.raises(FischedError, match="not found"):
        load_dataset(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(FischedError, match="not a fisched dataset"):
        load_dataset(tmp_path / "junk.npz")
    # a text file: numpy would read it as a pickle and say so; the error names the format
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(FischedError, match=r"not an \.npz archive") as err:
        load_dataset(tmp_path / "notes.txt")
    assert "pickle" not in str(err.value)
    np.savez(tmp_path / "old.npz", meta=np.array('{"format": "fisched-dataset", "version": 0}'))
    with pytest.raises(FischedError, match="version 0"):
        load_dataset(tmp_path / "old.npz")


def test_dataset_cli_build_and_info(tuned_tiny, tmp_path, capsys):
    from fisched.cli import main

    out = tmp_path / "d.npz"
    assert main(["dataset", "build", str(tuned_tiny[0]), "-o", str(out), "-q"]) == 0
    assert main(["dataset", "info", str(out), "--plot", str(tmp_path / "h.png")]) == 0
    text = capsys.readouterr().out
    assert "tiny: " in text and "label distribution" in text and "constant features" in text
    assert (tmp_path / "h.png").stat().st_size > 1000
    assert main(["dataset", "info", str(tmp_path / "missing.npz")]) == 2


@pytest.mark.slow
def test_collect_fills_tasks_and_resumes_without_remeasuring(tiny_onnx, tmp_path, target):
    from fisched.errors import FischedError
    from fisched.metaschedule.records import open_database, records_by_task
    from fisched.metaschedule.target import host_info
    from fisched.models.frontend import default_pipeline, load_model
    from fisched.tuning.collect import collect
    from fisched.tuning.tune import extract, read_meta

    # the tasks are formed as `fisched tune` forms them on this target
    model = load_model(str(tiny_onnx), **default_pipeline(target))
    tasks = extract(model, target)

    def per_task():
        db = open_database(tmp_path / model.name)
        return [len(r) for r in records_by_task(db, [t.mod for t in tasks])]

    counts = collect([str(tiny_onnx)], tmp_path, target, trials_per_task=4, progress=False)
    first = per_task()
    assert counts == {model.name: sum(first)}  # the running count matches the database
    assert sum(n >= 4 for n in first) >= 2 and min(first) >= 2
    meta = read_meta(tmp_path / model.name)
    assert (meta["weights"], meta["layout"], meta["kernels"]) == ("prepacked", "nhwc",
                                                                   "register-tiled")
    assert meta["host"] == host_info() and meta["math"] == "fast"
    collect([str(tiny_onnx)], tmp_path, target, trials_per_task=4, progress=False)
    second = per_task()
    # a task that reached its goal is not measured again
    assert [b for a, b in zip(first, second) if a >= 4] == [a for a in first if a >= 4]
    # a resumed folder keeps its pipeline: another one is refused before anything is measured
    for other in ({"prepack": False}, {"layout": "as-is"}, {"kernels": "stock"}):
        with pytest.raises(FischedError, match="workdir"):
            collect([str(tiny_onnx)], tmp_path, target, trials_per_task=8, progress=False,
                    **other)
    assert per_task() == second


def test_the_shipped_prior_names_each_task_host_and_an_older_dataset_falls_back_to_its_target():
    """The shipped prior holds three hosts, each task naming its own; a dataset from before
    hosts were recorded (tasks without ``host``) names the CPU of its provenance's target."""
    import dataclasses
    from importlib.resources import files

    from fisched.costmodel.dataset import describe, task_host

    ds = load_dataset(files("fisched") / "defaults" / "prior.npz")
    assert all(t.get("host") for t in ds.tasks)
    widths = {task_host(ds, t)["llvm_cpu"]: task_host(ds, t)["vector_bits"] for t in ds.tasks}
    assert widths == {"znver3": 256, "rocketlake": 512, "znver4": 512}  # AVX2 and AVX-512
    assert all(f"host {h} (" in describe(ds) for h in widths)

    older = dataclasses.replace(
        ds, tasks=[{k: v for k, v in t.items() if k != "host"} for t in ds.tasks],
        provenance={**ds.provenance, "target": {"kind": "llvm", "mcpu": "znver3"}})
    assert {task_host(older, t)["llvm_cpu"] for t in older.tasks} == {"znver3"}
    assert {task_host(older, t)["vector_bits"] for t in older.tasks} == {256}


def test_a_host_descriptor_tells_cpus_of_one_vector_width_apart_by_their_isa():
    """rocketlake and znver4 are both AVX-512 machines of 2 cores here; LLVM's features of
    their names (VNNI on both, BF16 on znver4 only) still tell them apart, and znver3 (AVX2)
    has neither. A name LLVM does not know gets no ISA column set."""
    from fisched.costmodel.dataset import HOST_DESCRIPTOR, HOST_ISA, host_descriptor

    def isa(cpu, bits=512):
        desc = host_descriptor({"llvm_cpu": cpu, "vector_bits": bits, "cores": 2})
        assert len(desc) == len(HOST_DESCRIPTOR) and list(desc[:2]) == [bits, 2]
        return {f for f, v in zip(HOST_ISA, desc[2:]) if v}

    assert isa("rocketlake") == {"fma", "avx512bw", "avx512vnni"}
    assert isa("znver4") == {"fma", "avx512bw", "avx512vnni", "avx512bf16"}
    assert isa("znver3", 256) == {"fma"}
    assert {"neon", "dotprod"} <= isa("neoverse-n1", 128)
    assert isa("rpc:some-board") == set()
