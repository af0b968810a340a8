"""What fisched learns from a user's own tuning, per host: a local prior and known schedules.

Every ``fisched tune`` and ``fisched collect`` adds what it measured to the library of the host it
ran on (``learn``; ``--no-learn`` opts out). A host's library is a folder,
``<root>/<llvm cpu>/`` (``DEFAULT_ROOT``: ``$XDG_CACHE_HOME/fisched/library``, else
``~/.cache/fisched/library``), holding

- ``prior.npz``: a dataset (``fisched.costmodel.dataset``) of every program measured there, which the fi
  cost model trains on beside the shipped prior (``default_prior``). Bounded at
  ``max_programs``: the programs of the workdirs added longest ago go first. A workdir added
  again (tuned further) replaces its earlier programs.
- ``schedules/<kernels>/``: a MetaSchedule JSON database per design space
  (``fisched.metaschedule.kernels``) with the best ``keep`` records of each workload, from which a later tune
  of a structurally equal task in the same design space starts (``fisched.tuning.reuse``). The shipped
  library, ``defaults/library/<host>/`` (made the same way from the committed collection by
  ``fisched library add``), serves as well, and its ``prior.npz`` joins the fi prior
  (``shipped_prior``).

Writers hold the folder's lock exclusively, readers shared, and each file is replaced
atomically, so two fisched processes on one host can learn and read at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import tvm_error_line
from ..metaschedule.records import best_distinct, group_by_task, open_database, readable_records
from ..workdir import RECORD_FILE, WORKLOAD_FILE, meta_kernels, read_meta
from .dataset import Dataset, build_dataset, concat_datasets, load_dataset

log = logging.getLogger("fisched")

PRIOR_FILE = "prior.npz"
SCHEDULES_DIR = "schedules"
LOCK_FILE = ".lock"
DEFAULT_MAX_PROGRAMS = 50_000
"""Programs a host's local prior keeps: about seven collections of the zoo on one host (the
shipped prior has 20,835 over three hosts); a fit on that many takes tens of seconds with one
thread."""
DEFAULT_KEEP = 4  # records per workload kept for reuse
SHIPPED_LIBRARY = Path(__file__).parent.parent / "defaults" / "library"


def cache_root() -> Path:
    """fisched's folder in the user's cache: ``$XDG_CACHE_HOME/fisched``, else
    ``~/.cache/fisched`` (libraries, trained priors: ``prior_cache``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "fisched"


def default_root() -> Path:
    """Where libraries live unless told otherwise: the XDG cache folder's ``fisched/library``."""
    return cache_root() / "library"


def library_dir(host: str, root: str | Path | None = None) -> Path:
    """The library folder of ``host`` (an LLVM cpu name, ``dataset.host_name``)."""
    return Path(root or default_root()) / host


@contextmanager
def _locked(folder: Path, exclusive: bool):
    """Hold ``folder``'s lock: exclusive for a writer (the folder and lock made if need be),
    shared for a reader (none needed where no writer ever was: a read-only shipped library)."""
    if exclusive:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    elif (folder / LOCK_FILE).exists():
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    else:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def local_prior(host: str, root: str | Path | None = None) -> Dataset | None:
    """The programs ``learn`` added on ``host``, or None if it has none."""
    path = library_dir(host, root) / PRIOR_FILE
    if not path.exists():
        return None
    with _locked(path.parent, exclusive=False):
        return load_dataset(path)


def learn(workdir: str | Path, host: str, root: str | Path | None = None,
          max_programs: int = DEFAULT_MAX_PROGRAMS, keep: int = DEFAULT_KEEP,
          progress: bool = False, prior: bool = True) -> dict:
    """Add a workdir's measured programs to ``host``'s library; returns what it now holds.

    The workdir's records are replayed into a dataset (``build_dataset``: a few seconds per
    hundred records), which replaces that workdir's earlier programs in the local prior; the
    best ``keep`` records of each of its workloads join the schedules. ``prior=False`` adds the
    schedules only (the shipped library: the shipped prior is a dataset file of its own).
    """
    workdir = Path(workdir).resolve()
    folder = library_dir(host, root)
    info = {"library": str(folder), "programs": 0, "tasks": 0, "added_programs": 0}
    added = build_dataset([workdir], progress=progress) if prior else None
    with _locked(folder, exclusive=True):
        if added is not None:
            stamp = time.time()
            for task in added.tasks:
                task["database"], task["learned_at"] = str(workdir), stamp
            prior_path = folder / PRIOR_FILE
            parts = [added]
            if prior_path.exists():
                old = load_dataset(prior_path)
                parts.insert(0, _drop_tasks(old, lambda t: t.get("database") == str(workdir)))
            ds = _bounded(concat_datasets(parts), max_programs)
            ds.save(prior_path)
            info.update(programs=ds.n_programs, tasks=len(set(ds.task_id.tolist())),
                        added_programs=added.n_programs)
        info["schedules"] = _merge_schedules(
            folder / SCHEDULES_DIR / meta_kernels(read_meta(workdir)), workdir, keep)
    return info


def describe_library(root: str | Path | None = None) -> list[dict]:
    """Per host folder under ``root``: programs in its prior and schedules per design space."""
    rows = []
    for folder in sorted(p for p in Path(root or default_root()).glob("*") if p.is_dir()):
        with _locked(folder, exclusive=False):
            prior_path = folder / PRIOR_FILE
            ds = load_dataset(prior_path) if prior_path.exists() else None
            schedules = {p.name: sum(1 for line in (p / RECORD_FILE).open() if line.strip())
                         for p in sorted((folder / SCHEDULES_DIR).glob("*"))
                         if (p / RECORD_FILE).exists()}
        rows.append({"host": folder.name, "path": str(folder),
                     "programs": ds.n_programs if ds else 0,
                     "models": sorted({t.get("model", "?") for t in ds.tasks}) if ds else [],
                     "schedules": schedules})
    return rows


def _drop_tasks(ds: Dataset, drop) -> Dataset:
    """``ds`` without the programs of the tasks ``drop(task)`` is true of."""
    gone = [i for i, t in enumerate(ds.tasks) if drop(t)]
    return ds.subset(np.flatnonzero(~np.isin(ds.task_id, gone)))


def _bounded(ds: Dataset, max_programs: int) -> Dataset:
    """At most ``max_programs`` programs: whole tasks of the oldest workdirs dropped first."""
    if ds.n_programs <= max_programs:
        return ds
    counts = np.bincount(ds.task_id, minlength=len(ds.tasks))
    newest_first = sorted(range(len(ds.tasks)),
                          key=lambda i: -float(ds.tasks[i].get("learned_at", 0.0)))
    keep, total = [], 0
    for i in newest_first:
        if total + counts[i] > max_programs:
            break
        keep.append(i)
        total += counts[i]
    return ds.subset(np.flatnonzero(np.isin(ds.task_id, keep)))


def _merge_schedules(folder: Path, workdir: Path, keep: int) -> int:
    """Rewrite ``folder``'s database with the best ``keep`` records per workload of it and of
    ``workdir``'s database; returns the records it holds. The caller holds the lock.

    Structurally equal workloads are one workload here, named by the fastest record's own
    workload; a record of another one that names its blocks otherwise is renamed onto it
    (``for_module``), or the database would not load."""
    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_hash

    groups: dict[int, list] = {}  # structural hash -> records
    sources = [open_database(workdir).get_all_tuning_records()]
    if (folder / RECORD_FILE).exists():
        sources.append(_library_records(folder, set_aside=True))
    for records in sources:
        for rec in records:
            key = structural_hash(rec.workload.mod)
            groups.setdefault(key, []).append(rec)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    out = ms.database.JSONDatabase(work_dir=str(tmp), module_equality="structural")
    n = 0
    for recs in groups.values():
        fastest = best_distinct(recs, 1)
        if not fastest:
            continue
        name = fastest[0].workload.mod  # the fastest record's workload names the group
        best = best_distinct(recs, keep, replays_on=name)
        workload = out.commit_workload(name)
        for rec in best:
            out.commit_tuning_record(ms.database.TuningRecord(
                rec.trace, workload, run_secs=rec.run_secs, target=rec.target,
                args_info=rec.args_info))
            n += 1
    folder.mkdir(parents=True, exist_ok=True)
    # records index the workload file by line: a reader holds the shared lock, so it never
    # sees one file replaced without the other
    for name in (WORKLOAD_FILE, RECORD_FILE):
        (tmp / name).replace(folder / name)
    shutil.rmtree(tmp, ignore_errors=True)
    return n


def _library_records(folder: Path, set_aside: bool = False) -> list:
    """The records of the schedule database in ``folder``. One MetaSchedule cannot open (a
    trace committed under a workload that names its blocks otherwise, as fisched once merged
    them) costs only the records that do not parse (``readable_records``); with ``set_aside``
    (a merge, which rewrites the folder) the files are first copied aside as
    ``*.unreadable-<time>``."""
    from tvm.s_tir import meta_schedule as ms

    try:
        db = ms.database.JSONDatabase(work_dir=str(folder), module_equality="structural")
        return db.get_all_tuning_records()
    except Exception as err:
        why = tvm_error_line(err)
    stamp = int(time.time())
    if set_aside:
        for name in (WORKLOAD_FILE, RECORD_FILE):
            if (folder / name).exists():
                shutil.copy2(folder / name, folder / f"{name}.unreadable-{stamp}")
    try:
        records, bad = readable_records(folder)
    except OSError:  # a file missing beside the other
        records, bad = [], "all"
    log.warning("%s cannot be opened whole (%s): read record by record, %s left out%s", folder,
                why, f"{bad} that do not parse" if bad else "none",
                f"; copied aside as *.unreadable-{stamp}" if set_aside else "")
    return records


def schedule_sources(host: str, kernels: str, root: str | Path | None = None,
                     shipped: Path | None = SHIPPED_LIBRARY) -> list[Path]:
    """The schedule databases a tune on ``host`` in design space ``kernels`` may start from:
    its local library's, then the shipped library's of every host (each known schedule is
    measured again here before it counts; ``shipped=None``: the local library's only)."""
    local = library_dir(host, root) / SCHEDULES_DIR / kernels
    ours = sorted(shipped.glob(f"*/{SCHEDULES_DIR}/{kernels}")) if shipped else []
    return [p for p in [local, *ours] if (p / RECORD_FILE).exists()]


def known_schedules(task_mods: list, sources: list[Path], top: int) -> list[list]:
    """Per task, the ``top`` best records of structurally equal workloads in ``sources``, each
    as a record of the task's own module (``for_module``: a structurally equal workload may
    name its blocks otherwise, and its trace, committed under the task unrenamed, would make
    the task's database fail to load)."""
    found: list[list] = [[] for _ in task_mods]
    for src in sources:
        with _locked(src.parent.parent, exclusive=False):  # the host folder's lock
            records = _library_records(src)
        for i, recs in enumerate(group_by_task(records, task_mods)):
            found[i].extend(recs)
    return [best_distinct(recs, top, replays_on=mod) for recs, mod in zip(found, task_mods)]


def shipped_prior(shipped: Path | None, library: Path = SHIPPED_LIBRARY):
    """Everything fisched ships to train the fi prior on: the dataset file ``shipped``
    (``defaults/prior.npz``) plus the ``prior.npz`` of every host in the shipped library (None
    if there is nothing). Every host's, not only this one's: benchmarks/host_transfer.py
    (results/host_transfer.md) measures whether another host's programs help."""
    paths = [Path(shipped)] if shipped and Path(shipped).exists() else []
    paths += sorted(Path(library).glob(f"*/{PRIOR_FILE}"))
    return concat_datasets([load_dataset(p) for p in paths]) if paths else None


def default_prior(host: str, shipped: Path | None, root: str | Path | None = None,
                  library: Path = SHIPPED_LIBRARY):
    """The fi model's default prior on ``host``: what fisched ships (``shipped_prior``) plus
    the host's local library (None if there is nothing at all)."""
    parts = [p for p in (shipped_prior(shipped, library), local_prior(host, root))
             if p is not None]
    return concat_datasets(parts) if parts else None


def meta_host(workdir: str | Path) -> str | None:
    """The host a workdir was measured on (its ``fisched.json``), None for an RPC device."""
    host = read_meta(Path(workdir)).get("host") or {}
    return host.get("llvm_cpu")
