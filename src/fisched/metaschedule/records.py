"""Reading MetaSchedule's JSON database: the single source of truth for what was measured."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from ..errors import FischedError
from ..workdir import RECORD_FILE, WORKLOAD_FILE

log = logging.getLogger("fisched")
FAILED_SECONDS = 1e9  # run_secs at or above this mark a failed build or run (MetaSchedule uses 1e10)


def open_database(workdir: str | Path, notes: list[str] | None = None):
    """The JSON database in ``workdir`` (created empty if absent), after ``repair``.

    What the repair set aside is logged and, if ``notes`` is given, appended to it.
    """
    from tvm.s_tir import meta_schedule as ms

    Path(workdir).mkdir(parents=True, exist_ok=True)
    set_aside = repair(workdir)
    if notes is not None:
        notes.extend(set_aside)
    return ms.database.JSONDatabase(work_dir=str(workdir), module_equality="structural")


def _parse(line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def repair(workdir: str | Path) -> list[str]:
    """Set aside lines MetaSchedule cannot load (a write cut by a kill, a damaged line).

    MetaSchedule refuses the whole database over one bad line, and appending after a line cut
    mid-way would glue the next record onto it. Bad lines (and records naming a workload that is
    gone) are moved, verbatim, to ``*.corrupt.json`` beside the database and reported; nothing
    is deleted. Returns the warnings it logged.
    """
    workdir = Path(workdir)
    wpath, rpath = workdir / WORKLOAD_FILE, workdir / RECORD_FILE
    notes = []
    n_workloads = None
    if wpath.exists():
        lines = wpath.read_text().split("\n")  # "\n" only, as MetaSchedule
        good = [ln for ln in lines if ln.strip() and _parse(ln) is not None]
        bad = [ln for ln in lines if ln.strip() and _parse(ln) is None]
        if bad:
            # Records point at workloads by line number; only a cut-off tail can be dropped.
            if any(_parse(ln) is None for ln in lines[:len(good)]):
                raise FischedError(f"{wpath} is damaged before its last line; records index its "
                                   "lines, so it cannot be repaired automatically")
            _set_aside(wpath, good, bad)
            notes.append(f"{wpath}: set aside {len(bad)} unreadable line(s)")
        n_workloads = len(good)
    if rpath.exists():
        text = rpath.read_text()
        parsed = [(ln, _parse(ln)) for ln in text.split("\n") if ln.strip()]

        def ok(rec) -> bool:  # [workload index, record]; the workload must still exist
            return (isinstance(rec, list) and len(rec) == 2 and isinstance(rec[0], int)
                    and rec[0] >= 0 and (n_workloads is None or rec[0] < n_workloads))

        good = [ln for ln, rec in parsed if ok(rec)]
        bad = [ln for ln, rec in parsed if not ok(rec)]
        if bad or (text and not text.endswith("\n")):
            _set_aside(rpath, good, bad)
            if bad:
                notes.append(f"{rpath}: set aside {len(bad)} unreadable record(s) "
                             f"into {rpath.with_suffix('.corrupt.json').name}")
    for note in notes:
        log.warning("%s", note)
    return notes


def _set_aside(path: Path, good: list[str], bad: list[str]) -> None:
    if bad:
        with open(path.with_suffix(".corrupt.json"), "a") as f:
            f.write("".join(ln + "\n" for ln in bad))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text("".join(ln + "\n" for ln in good))
    tmp.replace(path)


def mean_seconds(run_secs) -> float | None:
    """Mean of measured repeats, or None if there are none or the build or run failed."""
    if run_secs is None or len(run_secs) == 0:
        return None
    secs = [float(s) for s in run_secs]
    if any(not math.isfinite(s) or s >= FAILED_SECONDS for s in secs):
        return None
    return sum(secs) / len(secs)


def run_seconds(record) -> float | None:
    """Mean measured seconds of a record, or None if its build or run failed."""
    return mean_seconds(record.run_secs)


def readable_records(folder: str | Path) -> tuple[list, int]:
    """The records of the JSON database in ``folder`` that parse against their workload, and how
    many did not: for a database MetaSchedule refuses whole (it replays every record's trace on
    its workload when it opens one, and fails on the first that names a block the workload
    lacks), what can be kept of it, record by record."""
    from tvm.s_tir import meta_schedule as ms

    folder = Path(folder)
    workloads = []
    lines = (folder / WORKLOAD_FILE).read_text().split("\n")  # "\n" only, as MetaSchedule
    for line in (ln for ln in lines if ln.strip()):
        try:
            workloads.append(ms.database.Workload.from_json(json.loads(line)))
        except Exception:  # keep the line numbering: records index workloads by line
            workloads.append(None)
    records, bad = [], 0
    lines = (folder / RECORD_FILE).read_text().split("\n")
    for line in (ln for ln in lines if ln.strip()):
        try:
            index, record = json.loads(line)
            if not 0 <= index < len(workloads):
                raise IndexError(index)
            records.append(ms.database.TuningRecord.from_json(record, workloads[index]))
        except Exception:  # a damaged line, a lost workload, a trace that does not replay
            bad += 1
    return records, bad


def records_by_task(database, task_mods: list) -> list[list]:
    """All records (failed ones included) of each task module, in the database's order."""
    return group_by_task(database.get_all_tuning_records(), task_mods)


def group_by_task(records, task_mods: list) -> list[list]:
    """Of ``records``, those of each task module (structurally equal), in their order."""
    from tvm_ffi import structural_equal, structural_hash

    index = {}
    for i, mod in enumerate(task_mods):
        index.setdefault(structural_hash(mod), []).append(i)
    grouped: list[list] = [[] for _ in task_mods]
    for record in records:
        for i in index.get(structural_hash(record.workload.mod), []):
            if structural_equal(record.workload.mod, task_mods[i]):
                grouped[i].append(record)
                break
    return grouped


def applies_to(trace, mod) -> bool:
    """Whether ``trace`` replays on ``mod``. Structurally equal workloads can name their blocks
    otherwise (a reduction's block is named after its Relax variable, e.g. ``lv479_red``, so the
    same mean in two models differs there), and structural equality ignores names. A record
    whose trace names a block its workload lacks must not be committed: MetaSchedule parses
    every record against its workload when it opens a JSON database, and one such line makes
    the whole file fail to load."""
    from tvm.s_tir import Schedule

    try:
        # as MetaSchedule's loader replays it; no error rendering: a miss is an answer here
        trace.apply_to_schedule(Schedule(mod, error_render_level="none"),
                                remove_postproc=False)
    except Exception:  # TVMError, of whichever kind the missing block raises
        return False
    return True


def best_seconds(records: list) -> float | None:
    """The fastest successful measurement among ``records``, if any."""
    secs = [s for s in map(run_seconds, records) if s is not None]
    return min(secs) if secs else None


def block_names(mod) -> list[tuple[str, str]]:
    """``mod``'s blocks as (function, block name), depth first from each function's root block,
    functions by name: the same order for structurally equal modules, whatever they name their
    blocks."""
    from tvm.s_tir import Schedule

    sch = Schedule(mod, error_render_level="none")
    names: list[tuple[str, str]] = []
    for gvar in mod.get_global_vars():
        func = gvar.name_hint

        def walk(block) -> None:
            names.append((func, sch.get(block).name_hint))
            for child in sch.get_child_blocks(block):
                walk(child)

        walk(sch.get_sblock("root", func_name=func))
    return names


# Trace instructions that neither add, remove, rename nor move a block: between two GetSBlock
# lookups with only these in between, both schedules' block lists stay as they were
_BLOCKS_KEPT = {"GetSBlock", "GetLoops", "GetChildBlocks", "GetProducers", "GetConsumers",
                "SamplePerfectTile", "SampleCategorical", "SampleComputeLocation", "Annotate",
                "Unannotate", "EnterPostproc", "Split", "Fuse", "Reorder", "Parallel",
                "Vectorize", "Unroll", "Bind"}


def for_module(record, mod):
    """``record`` as a record of ``mod``, a structurally equal module, or None if it does not
    replay on it. Structural equality ignores block names, and a reduction's block is named
    after its Relax variable, so the same mean is ``lv479_red`` in one model and ``lv12_red`` in
    another. Where ``mod`` names its blocks otherwise, each block the trace looks up by name
    (``GetSBlock``: the workload's own blocks, and those the trace made before the lookup, such
    as an rfactor's ``lv479_red_rf``) is looked up by ``mod``'s name for the block at the same
    place, both schedules replayed to that instruction; the renamed trace goes under a
    workload of ``mod``."""
    from tvm.s_tir import Schedule, Trace
    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_equal

    theirs = record.workload.mod
    if theirs.same_as(mod):
        return record
    if not structural_equal(theirs, mod):
        return None
    if applies_to(record.trace, mod):  # the same names, or none the trace looks up differ
        return record
    insts, decisions = record.trace.as_json(remove_postproc=False)
    insts = [list(inst) for inst in insts]
    renamed: list[list] = []

    def state(module, prefix: list) -> list[tuple[str, str]]:  # blocks after ``prefix``
        sch = Schedule(module, error_render_level="none")
        Trace.apply_json_to_schedule(
            [prefix, [d for d in decisions if int(d[0]) < len(prefix)]], sch)
        return block_names(sch.mod)

    try:
        blocks, stale = None, True
        for kind, inputs, attrs, outputs in insts:
            if kind == "GetSBlock":
                if stale:
                    blocks = state(theirs, insts[:len(renamed)]), state(mod, renamed)
                    stale = False
                key = (str(attrs[1]), str(attrs[0]))
                if blocks[0].count(key) != 1 or len(blocks[0]) != len(blocks[1]):
                    return None  # no block, or no single one, to look up by place
                func, name = blocks[1][blocks[0].index(key)]
                if func != key[0]:
                    return None
                attrs = [name, *attrs[1:]]
            stale = stale or kind not in _BLOCKS_KEPT
            renamed.append([kind, inputs, attrs, outputs])
        sch = Schedule(mod, error_render_level="none")
        Trace.apply_json_to_schedule([renamed, decisions], sch)
    except Exception:  # TVMError: the schedule does not fit this module after all, or a
        return None    # module with no root block to list blocks from
    return ms.database.TuningRecord(sch.trace, ms.database.Workload(mod),
                                    run_secs=record.run_secs, target=record.target,
                                    args_info=record.args_info)


def best_distinct(records: list, top: int, replays_on=None) -> list:
    """The ``top`` successful records with the lowest latency, one per distinct trace; with
    ``replays_on`` (a module), each as a record of that module (``for_module``: its blocks
    renamed where that module names them otherwise) and only those that replay on it, tried
    fastest first until ``top`` are found."""
    seen, picked = set(), []
    for secs, record in sorted(((run_seconds(r), r) for r in records
                                if run_seconds(r) is not None), key=lambda x: x[0]):
        key = str(record.trace)
        if key in seen:
            continue
        seen.add(key)
        if replays_on is not None:
            record = for_module(record, replays_on)
            if record is None:
                continue
            renamed = str(record.trace)
            if renamed != key and renamed in seen:  # renamed onto a schedule already seen
                continue
            seen.add(renamed)
        picked.append(record)
        if len(picked) == top:
            break
    return picked
