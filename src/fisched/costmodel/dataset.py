"""Cost-model datasets built from MetaSchedule JSON databases.

Each record's trace is replayed on its workload and MetaSchedule's ``PerStoreFeature`` extracts
its rows (one per BufferStore, 164 columns, named in ``fisched.costmodel.features``). The file is a
compressed ``.npz`` of flat arrays so 10k programs load in well under a second:

- ``features`` float32 [rows, 164] and ``row_ptr`` int64 [programs + 1]: program i owns rows
  ``row_ptr[i]:row_ptr[i+1]`` (a candidate's score is the sum over its rows, the "pack-sum");
- ``run_secs`` float64 and ``run_ptr`` int64: every measured repeat of program i;
- ``task_id`` int32 [programs]; ``meta``: JSON with the task table (name, model, weight in its
  model, FLOPs, database), format version and provenance.

Labels are derived on load (``latency``: mean of repeats, ``inf`` when the build or run failed),
never stored twice.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import FischedError
from ..metaschedule.build import tune_context
from ..metaschedule.records import FAILED_SECONDS, open_database
from ..metaschedule.target import make_target, target_host
from ..metaschedule.tasks import extract
from ..models.frontend import load_model
from ..provenance import provenance
from ..workdir import input_shapes, model_settings, model_spec, read_meta
from .features import FEATURE_NAMES, N_FEATURES

FORMAT = "fisched-dataset"
FORMAT_VERSION = 1
log = logging.getLogger("fisched")


@dataclass
class Dataset:
    features: np.ndarray
    row_ptr: np.ndarray
    run_secs: np.ndarray
    run_ptr: np.ndarray
    task_id: np.ndarray
    tasks: list[dict]
    provenance: dict = field(default_factory=dict)

    @property
    def n_programs(self) -> int:
        return len(self.task_id)

    @property
    def latency(self) -> np.ndarray:
        """Mean measured seconds per program; ``inf`` where the build or run failed."""
        sums = np.add.reduceat(self.run_secs, self.run_ptr[:-1]) if len(self.run_secs) else \
            np.zeros(0)
        counts = np.diff(self.run_ptr)
        lat = sums / np.maximum(counts, 1)
        failed = np.maximum.reduceat(self.run_secs, self.run_ptr[:-1]) >= FAILED_SECONDS \
            if len(self.run_secs) else np.zeros(0, bool)
        lat[failed | (counts == 0)] = np.inf
        return lat

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.latency)

    def rows(self, i: int) -> np.ndarray:
        return self.features[self.row_ptr[i]:self.row_ptr[i + 1]]

    def pack_sum(self) -> np.ndarray:
        """Per-program feature sums [programs, 164], the input XGBModel's pack-sum sees."""
        out = np.add.reduceat(self.features, self.row_ptr[:-1], axis=0)
        out[np.diff(self.row_ptr) == 0] = 0.0
        return out

    def subset(self, programs: np.ndarray) -> Dataset:
        """The given programs (indices), with rows and repeats carried along."""
        programs = np.asarray(programs)
        row_sel = [np.arange(self.row_ptr[i], self.row_ptr[i + 1]) for i in programs]
        run_sel = [np.arange(self.run_ptr[i], self.run_ptr[i + 1]) for i in programs]
        return Dataset(
            self.features[np.concatenate(row_sel)] if row_sel else self.features[:0],
            np.concatenate([[0], np.cumsum([len(r) for r in row_sel])]).astype(np.int64),
            self.run_secs[np.concatenate(run_sel)] if run_sel else self.run_secs[:0],
            np.concatenate([[0], np.cumsum([len(r) for r in run_sel])]).astype(np.int64),
            self.task_id[programs], self.tasks, self.provenance)

    def tasks_like(self, task_mods: list = (), models: tuple[str, ...] = (),
                   shashes: tuple[str, ...] = ()) -> list[int]:
        """Indices of the tasks structurally equal to one of ``task_mods`` (or with one of the
        structural hashes ``shashes``) or drawn from one of ``models``."""
        from tvm_ffi import structural_hash

        hashes = {str(structural_hash(m)) for m in task_mods} | set(shashes)
        if hashes and any("shash" not in t for t in self.tasks):
            log.warning("dataset predates task hashes: only whole models can be left out")
        return [i for i, t in enumerate(self.tasks)
                if t.get("model") in models or t.get("shash") in hashes]

    def without_tasks(self, task_mods: list = (), models: tuple[str, ...] = (),
                      shashes: tuple[str, ...] = ()) -> tuple[Dataset, list[str]]:
        """Every program except those of ``tasks_like(...)``, and the names of the tasks left
        out. Used to warm-start a cost model from a prior dataset without the tasks it is about
        to tune, so what it shows is transfer, not memory."""
        out = self.tasks_like(task_mods, models, shashes)
        keep = np.flatnonzero(~np.isin(self.task_id, out))
        return self.subset(keep), [f"{self.tasks[i]['model']}/{self.tasks[i]['name']}"
                                   for i in out]

    def save(self, path: str | Path) -> None:
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "feature_names": FEATURE_NAMES,
                "tasks": self.tasks, "provenance": self.provenance}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, features=self.features, row_ptr=self.row_ptr,
                            run_secs=self.run_secs, run_ptr=self.run_ptr, task_id=self.task_id,
                            meta=np.array(json.dumps(meta)))
        tmp.replace(path)


def concat_datasets(parts: list[Dataset]) -> Dataset:
    """The programs of every part (parts without any left out), one task table. Each task
    keeps the host it was measured on (``task_host``, written into the task: parts'
    provenances differ); the result's provenance is the first part's. A single part is
    returned as it is."""
    parts = [p for p in parts if p.n_programs]
    if not parts:
        raise FischedError("no programs to concatenate")
    if len(parts) == 1:
        return parts[0]
    tasks, task_ids, row_ptr, run_ptr = [], [], [np.zeros(1, np.int64)], [np.zeros(1, np.int64)]
    rows = runs = 0
    for part in parts:
        task_ids.append(part.task_id + len(tasks))
        tasks.extend({**t, "host": task_host(part, t)} for t in part.tasks)
        row_ptr.append(part.row_ptr[1:] + rows)
        run_ptr.append(part.run_ptr[1:] + runs)
        rows += int(part.row_ptr[-1])
        runs += int(part.run_ptr[-1])
    return Dataset(np.concatenate([p.features[:p.row_ptr[-1]] for p in parts]),
                   np.concatenate(row_ptr), np.concatenate([p.run_secs[:p.run_ptr[-1]]
                                                            for p in parts]),
                   np.concatenate(run_ptr), np.concatenate(task_ids).astype(np.int32), tasks,
                   parts[0].provenance)


def load_dataset(path: str | Path) -> Dataset:
    """Load a dataset file; a missing file or another format version is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise FischedError(f"dataset not found: {path}")
    if not zipfile.is_zipfile(path):  # numpy would try it as a pickle and say so
        raise FischedError(f"{path} is not a fisched dataset (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
                raise FischedError(
                    f"{path} is {meta.get('format')} version {meta.get('version')}, this fisched "
                    f"reads {FORMAT} version {FORMAT_VERSION}; rebuild it with fisched dataset build")
            arrays = {k: z[k] for k in ("features", "row_ptr", "run_secs", "run_ptr", "task_id")}
    except FischedError:
        raise
    except Exception as err:
        raise FischedError(f"{path} is not a fisched dataset: {err}") from None
    if arrays["features"].shape[1:] != (N_FEATURES,):
        raise FischedError(f"{path} has {arrays['features'].shape[1:]} feature columns, "
                           f"expected {N_FEATURES}")
    return Dataset(**arrays, tasks=meta["tasks"], provenance=meta.get("provenance", {}))


def _task_table(db_dir: Path, meta: dict, workloads: list, target) -> list[dict]:
    """Name, model, weight and FLOPs of each workload, by re-extracting the model's tasks."""
    from tvm_ffi import structural_equal

    spec = model_spec(meta)
    tasks = []
    if spec:
        try:
            model = load_model(spec, input_shapes(meta), **model_settings(meta))
            tasks = extract(model, target)
        except FischedError as err:
            log.warning("%s: cannot re-extract tasks of %s (%s); weights unknown", db_dir, spec,
                        err)
    host = meta.get("host") or target_host(target, meta.get("provenance", {}).get("cpu"))
    table = []
    for k, workload in enumerate(workloads):
        match = next((t for t in tasks if structural_equal(t.mod, workload.mod)), None)
        table.append({"name": match.name if match else f"workload{k}", "model": meta["model"],
                      "weight": match.weight if match else 0.0,
                      "flops": match.flops if match else 0.0, "database": str(db_dir),
                      "host": host})
    return table


def task_host(ds: Dataset, task: dict) -> dict:
    """The host a task's programs were measured on: recorded per task since fisched records
    hosts; for an older dataset, what its target says (``target.target_host``)."""
    if task.get("host"):
        return task["host"]
    target = ds.provenance.get("target")
    if not target:
        return {"llvm_cpu": "unknown"}
    return target_host(make_target(target), ds.provenance.get("cpu"))


HOST_ISA = ("fma", "avx512bw", "avx512vnni", "avx512bf16", "amx-tile", "neon", "dotprod", "sve")
"""LLVM CPU features that change which kernels win (FMA; AVX-512 integer, VNNI and BF16 dot
products; AMX tiles; Arm's NEON, dot product and SVE): ``host_descriptor`` has one 0/1 column
each."""

HOST_DESCRIPTOR = ("vector_bits", "cores") + tuple(f"isa:{f}" for f in HOST_ISA)
"""What every host record says of its machine that can be a feature: the vector width, the
cores, and ``HOST_ISA`` as LLVM knows the CPU by name (``llvm_cpu``): so hosts recorded
before fisched kept ISA flags get them too, and the flags are the ones the generated code
may use (a VM's kernel can report flags its LLVM name lacks). ``host_descriptor``."""


@lru_cache(maxsize=None)
def cpu_isa(llvm_cpu: str) -> tuple[float, ...]:
    """``HOST_ISA`` of an LLVM CPU name as 0/1 (x86 names first, else AArch64 ones; all 0 for
    a name LLVM does not know, e.g. an RPC device's key)."""
    import tvm
    from tvm.target import codegen

    for triple in ("x86_64-linux-gnu", "aarch64-linux-gnu"):
        try:
            arch = tvm.target.Target({"kind": "llvm", "mtriple": triple})
            if llvm_cpu not in {str(c) for c in codegen.llvm_get_cpu_archlist(arch)}:
                continue  # (LLVM would fall back to a generic CPU)
            target = tvm.target.Target({"kind": "llvm", "mcpu": llvm_cpu, "mtriple": triple})
            features = {str(f) for f in codegen.llvm_get_cpu_features(target)}
        except Exception:  # an LLVM built without this architecture
            continue
        return tuple(float(f in features) for f in HOST_ISA)
    return (0.0,) * len(HOST_ISA)


def host_descriptor(host: dict) -> np.ndarray:
    """``HOST_DESCRIPTOR`` of a host record (``task_host``, ``target.host_info``), 0 where
    unknown: the vector width in bits, the cores, then ``HOST_ISA`` of its LLVM CPU name."""
    head = [float(host.get(k) or 0) for k in ("vector_bits", "cores")]
    return np.array(head + list(cpu_isa(str(host.get("llvm_cpu") or ""))), np.float32)


def with_host_columns(ds: Dataset) -> tuple[Dataset, np.ndarray]:
    """``ds`` with ``host_descriptor`` of each row's host appended to its features (columns
    ``N_FEATURES`` on), and the indices of the appended columns."""
    from dataclasses import replace

    per_task = np.array([host_descriptor(task_host(ds, t)) for t in ds.tasks], np.float32)
    per_task = per_task.reshape(len(ds.tasks), len(HOST_DESCRIPTOR))
    program_of_row = np.repeat(np.arange(ds.n_programs), np.diff(ds.row_ptr))
    extra = per_task[ds.task_id[program_of_row]].astype(ds.features.dtype)
    start = ds.features.shape[1]
    return (replace(ds, features=np.hstack([ds.features, extra])),
            np.arange(start, start + extra.shape[1]))


def host_name(host: dict) -> str:
    """A host's short name: LLVM's cpu name, or the RPC device key."""
    return host.get("llvm_cpu") or f"rpc:{host.get('rpc_key')}"


def replay(record):
    """The measured program of a record, postprocessing included: the schedule MetaSchedule's
    cost model scored and the runner timed. (``TuningRecord.as_measure_candidate`` drops the
    postprocessing, e.g. the parallel/vectorize/unroll rewrite, and with it those features.)"""
    from tvm.s_tir import Schedule
    from tvm.s_tir.meta_schedule.search_strategy import MeasureCandidate

    sch = Schedule(record.workload.mod)
    record.trace.apply_to_schedule(sch, remove_postproc=False)
    return MeasureCandidate(sch, record.args_info)


def build_dataset(db_dirs: list[str | Path], progress: bool = True, target=None) -> Dataset:
    """Replay every record of the given workdirs and extract its per-store feature rows.

    A workdir tuned by fisched carries its target and model (task names and weights); a plain
    MetaSchedule workdir is read too, with ``target`` (default: this host) and unnamed tasks.
    """
    from tqdm import tqdm
    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_hash

    feats, row_counts, runs, run_counts, task_ids, tasks = [], [], [], [], [], []
    extractor = ms.feature_extractor.PerStoreFeature()
    plain_target = target  # for workdirs without fisched.json; made on first use if None
    for db_dir in map(Path, db_dirs):
        if not (db_dir / "database_tuning_record.json").exists():
            raise FischedError(f"{db_dir} holds no MetaSchedule database")
        if (db_dir / "fisched.json").exists():
            meta = read_meta(db_dir)
            target = make_target(meta["target"])
        else:
            meta = {"model": db_dir.name}
            if plain_target is None:
                plain_target = make_target(None)
            target = plain_target
        records = open_database(db_dir).get_all_tuning_records()
        workloads, by_workload = [], {}
        for rec in records:
            key = structural_hash(rec.workload.mod)
            if key not in by_workload:
                by_workload[key] = []
                workloads.append(rec.workload)
            by_workload[key].append(rec)
        table = _task_table(db_dir, meta, workloads, target)
        bar = tqdm(total=len(records), desc=f"features {db_dir.name}", disable=not progress)
        for workload, info in zip(workloads, table):
            # the target family's intrinsics: a replayed trace may hold a Tensorize step
            context = tune_context(workload.mod, target)
            recs = by_workload[structural_hash(workload.mod)]
            candidates, kept = [], []
            for rec in recs:
                try:
                    candidates.append(replay(rec))
                    kept.append(rec)
                except Exception as err:  # a trace that no longer replays: skip, say so
                    log.warning("%s %s: trace does not replay (%s)", db_dir, info["name"],
                                str(err).splitlines()[0] if str(err) else type(err).__name__)
            rows = extractor.extract_from(context, candidates) if candidates else []
            tid = len(tasks)
            info["shash"] = str(structural_hash(workload.mod))  # to recognise the task later
            tasks.append(info)
            for rec, r in zip(kept, rows):
                arr = r.numpy().astype(np.float32)
                feats.append(arr)
                row_counts.append(len(arr))
                secs = [float(s) for s in rec.run_secs] if rec.run_secs else [1e10]
                runs.extend(secs)
                run_counts.append(len(secs))
                task_ids.append(tid)
            bar.update(len(recs))
        bar.close()
    if not task_ids:
        raise FischedError("no records found in " + ", ".join(map(str, db_dirs)))
    return Dataset(
        np.concatenate(feats).astype(np.float32),
        np.concatenate([[0], np.cumsum(row_counts)]).astype(np.int64),
        np.asarray(runs, np.float64),
        np.concatenate([[0], np.cumsum(run_counts)]).astype(np.int64),
        np.asarray(task_ids, np.int32), tasks, provenance(target))


def normalized_throughput(ds: Dataset) -> np.ndarray:
    """Per task, best latency / latency in (0, 1]; 0 for failed programs. MetaSchedule's label."""
    lat = ds.latency
    out = np.zeros(ds.n_programs)
    for t in np.unique(ds.task_id):
        sel = (ds.task_id == t) & np.isfinite(lat)
        if sel.any():
            out[sel] = lat[sel].min() / lat[sel]
    return out


def constant_features(ds: Dataset, share: float = 0.99) -> tuple[list[int], list[int]]:
    """(constant columns, near-constant columns whose most common value covers >= share)."""
    f = ds.features
    constant = [i for i in range(f.shape[1]) if np.all(f[:, i] == f[0, i])]
    near = []
    for i in range(f.shape[1]):
        if i in constant:
            continue
        _, counts = np.unique(f[:, i], return_counts=True)
        if counts.max() >= share * len(f):
            near.append(i)
    return constant, near


def describe(ds: Dataset, plot: str | Path | None = None) -> str:
    """The text ``fisched dataset info`` prints; optionally a label-histogram PNG."""
    lat, valid = ds.latency, ds.valid
    models = sorted({t["model"] for t in ds.tasks})
    lines = [f"{ds.n_programs} programs ({int(valid.sum())} measured, "
             f"{int((~valid).sum())} failed), {len(ds.tasks)} tasks, {len(models)} models, "
             f"{len(ds.features)} feature rows"]
    for m in models:
        tids = [i for i, t in enumerate(ds.tasks) if t["model"] == m]
        sel = np.isin(ds.task_id, tids)
        per_task = np.bincount(ds.task_id[sel], minlength=len(ds.tasks))[tids]
        lines.append(f"  {m}: {len(tids)} tasks, {int(sel.sum())} programs "
                     f"(per task min {per_task.min()}, median {int(np.median(per_task))}), "
                     f"{int((sel & ~valid).sum())} failed")
    hosts: dict[str, list[int]] = {}
    for i, t in enumerate(ds.tasks):
        hosts.setdefault(host_name(task_host(ds, t)), []).append(i)
    for name, tids in hosts.items():
        h = task_host(ds, ds.tasks[tids[0]])
        sel = np.isin(ds.task_id, tids)
        lines.append(f"  host {name} ({h.get('model') or 'model unknown'}; "
                     f"{h.get('vector_bits') or '?'}-bit vectors; {h.get('cores') or '?'} cores"
                     + (f"; {' '.join(h['isa'])}" if h.get("isa") else "")
                     + f"): {len(tids)} tasks, {int(sel.sum())} programs")
    counts = np.bincount(ds.task_id, minlength=len(ds.tasks))
    short = [f"{t['model']}/{t['name']} ({c})" for t, c in zip(ds.tasks, counts) if c < 64]
    lines.append(f"tasks with >= 64 programs: {int((counts >= 64).sum())}; "
                 f"with fewer ({len(short)}): {', '.join(short) or '-'}")
    y = normalized_throughput(ds)[valid]
    hist, edges = np.histogram(y, bins=10, range=(0, 1))
    lines.append("label distribution (normalized throughput = best/latency within the task):")
    for h, lo, hi in zip(hist, edges[:-1], edges[1:]):
        lines.append(f"  {lo:.1f}-{hi:.1f} {h:6d} {'#' * int(round(50 * h / max(hist.max(), 1)))}")
    lines.append(f"  median {np.median(y):.3f}; {100 * np.mean(y < 0.2):.0f}% of measured "
                 "programs are below 0.2 of their task's best")
    constant, near = constant_features(ds)
    lines.append(f"constant features ({len(constant)}): "
                 + ", ".join(FEATURE_NAMES[i] for i in constant))
    lines.append(f"near-constant features (>= 99% one value, {len(near)}): "
                 + ", ".join(FEATURE_NAMES[i] for i in near))
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(y, bins=40, range=(0, 1), color="#4477aa")
        ax.set_xlabel("normalized throughput (task best / latency)")
        ax.set_ylabel("programs")
        ax.set_title(f"Label skew: {ds.n_programs} programs, {len(ds.tasks)} tasks")
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        plt.close(fig)
        lines.append(f"histogram: {plot}")
    return "\n".join(lines)
