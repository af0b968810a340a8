"""The host's library: a local prior grown by every tune, and known schedules reused."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fisched.costmodel.dataset import Dataset, concat_datasets, task_host


def _dataset(n_tasks: int, per_task: int, host: str, stamp: float = 0.0, seed: int = 0):
    """A synthetic dataset: ``per_task`` programs of two feature rows for each task."""
    rng = np.random.default_rng(seed)
    n = n_tasks * per_task
    return Dataset(rng.random((2 * n, 164)).astype(np.float32),
                   np.arange(0, 2 * n + 1, 2, dtype=np.int64),
                   rng.uniform(1e-4, 1e-3, n), np.arange(n + 1, dtype=np.int64),
                   np.repeat(np.arange(n_tasks), per_task).astype(np.int32),
                   [{"name": f"t{i}", "model": "m", "host": {"llvm_cpu": host},
                     "learned_at": stamp} for i in range(n_tasks)],
                   {"target": json.dumps({"kind": "llvm", "mcpu": host})})


def test_concatenated_datasets_keep_each_program_and_its_host():
    a, b = _dataset(2, 3, "znver3"), _dataset(3, 2, "rocketlake", seed=1)
    both = concat_datasets([a, b])
    assert both.n_programs == 12 and len(both.tasks) == 5
    np.testing.assert_array_equal(both.task_id, [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_allclose(both.latency, np.concatenate([a.latency, b.latency]))
    np.testing.assert_array_equal(both.rows(7), b.rows(1))
    assert [task_host(both, t)["llvm_cpu"] for t in both.tasks] == ["znver3"] * 2 + [
        "rocketlake"] * 3


def test_the_local_prior_drops_the_oldest_workdirs_first():
    from fisched.costmodel.library import _bounded

    ds = concat_datasets([_dataset(2, 5, "x", stamp=1.0), _dataset(2, 5, "x", stamp=2.0)])
    kept = _bounded(ds, 14)
    assert kept.n_programs == 10  # whole tasks only, newest first
    assert set(kept.task_id) == {2, 3}
    assert _bounded(ds, 20).n_programs == 20


@pytest.mark.slow
def test_tune_learns_and_a_later_tune_starts_from_the_known_schedules(tiny_onnx, tmp_path,
                                                                        target):
    from fisched.costmodel.library import learn, library_dir, local_prior, schedule_sources
    from fisched.metaschedule.records import (best_distinct, open_database, records_by_task,
                                              run_seconds)
    from fisched.metaschedule.target import host_cpu
    from fisched.metaschedule.tasks import extract
    from fisched.models.frontend import default_pipeline, load_model
    from fisched.tuning.reuse import warm_start
    from fisched.tuning.tune import tune

    root, host = tmp_path / "lib", host_cpu()
    model = load_model(str(tiny_onnx), **default_pipeline(target))
    first = tmp_path / "first"
    tune(model, first, target, trials=8, progress=False)
    info = learn(first, host, root)
    prior = local_prior(host, root)
    assert info["added_programs"] == prior.n_programs == 8
    assert {t["database"] for t in prior.tasks} == {str(first.resolve())}
    # learning the same workdir again replaces its programs instead of adding them twice
    assert learn(first, host, root)["programs"] == 8
    sources = schedule_sources(host, "register-tiled", root, shipped=tmp_path / "none")
    assert sources == [library_dir(host, root) / "schedules" / "register-tiled"]
    assert schedule_sources(host, "stock", root, shipped=tmp_path / "none") == []  # no mixing
    # the shipped library's databases come after the local one, unless left out
    assert schedule_sources(host, "register-tiled", root)[0] == sources[0]
    assert len(schedule_sources(host, "register-tiled", root)) > 1
    assert schedule_sources(host, "register-tiled", root, shipped=None) == sources

    # the first workdir's best schedules, not the search's, open the second (that a tune
    # without `reuse` starts from nothing is checked by the experiment CLI test's xgb and
    # fi-prior runs and by the CLI test's `--no-reuse` run)
    second = tmp_path / "second"
    result = tune(model, second, target, trials=12, progress=False, reuse=True, library=root)
    tasks = extract(model, target)
    learned = records_by_task(open_database(first), [t.mod for t in tasks])
    started = records_by_task(open_database(second), [t.mod for t in tasks])
    assert result.reused and sum(result.reused.values()) >= len(result.reused)
    for task, old, new in zip(tasks, learned, started):
        if task.name in result.reused:
            # the first workdir's best schedules were measured again here
            known = {str(r.trace) for r in best_distinct(old, result.reused[task.name])}
            again = [r for r in new if str(r.trace) in known]
            assert {str(r.trace) for r in again} == known and all(map(run_seconds, again))
    # the known schedules measured again are this run's trials, not records it found
    assert result.trials_before == 0 and result.trials_measured >= 12
    # a task that already has records is not started again
    assert warm_start(tasks, open_database(second), target, sources) == {}


@pytest.mark.slow
def test_cli_tune_learns_unless_told_not_to(tiny_onnx, tmp_path):
    def tune(workdir, *flags):
        res = subprocess.run([sys.executable, "-m", "fisched.cli", "tune", str(tiny_onnx),
                              "--trials", "4", "--workdir", str(tmp_path / workdir), "-q",
                              "--library", str(tmp_path / "lib"), *flags],
                             capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr
        return res.stderr

    def library_rows():
        info = subprocess.run([sys.executable, "-m", "fisched.cli", "library", "info",
                               "--library", str(tmp_path / "lib"), "--json"],
                              capture_output=True, text=True)
        return json.loads(info.stdout)

    err = tune("a")
    assert "library: 4 programs" in err
    rows = library_rows()
    assert [(r["programs"], r["models"]) for r in rows] == [(4, ["tiny"])]
    assert rows[0]["schedules"]["register-tiled"] >= 3  # the best of each of its tasks
    err = tune("b", "--no-learn")
    assert "reuse:" in err and "started from" in err
    assert "library:" not in err and library_rows() == rows  # learned nothing
    assert "reuse:" not in tune("c", "--no-reuse", "--no-learn")


def test_the_fi_model_default_prior_adds_the_local_library(tmp_path):
    from fisched.costmodel.fi_model import DEFAULT_PRIOR
    from fisched.costmodel.library import PRIOR_FILE, default_prior, library_dir

    none = tmp_path / "no-shipped-library"
    shipped = default_prior("nohost", DEFAULT_PRIOR, tmp_path, none)
    local = _dataset(3, 4, "nohost")
    local.save(library_dir("nohost", tmp_path) / PRIOR_FILE)
    both = default_prior("nohost", DEFAULT_PRIOR, tmp_path, none)
    assert both.n_programs == shipped.n_programs + 12
    assert default_prior("nohost", None, tmp_path, none).n_programs == 12
    assert default_prior("other", None, tmp_path, none) is None
    # a shipped library's host priors join the shipped dataset, every host's
    ship = tmp_path / "shipped"
    _dataset(2, 5, "hostA").save(library_dir("hostA", ship) / PRIOR_FILE)
    _dataset(1, 5, "hostB").save(library_dir("hostB", ship) / PRIOR_FILE)
    assert default_prior("other", None, tmp_path, ship).n_programs == 15
    hosts = {task_host(d, t)["llvm_cpu"] for d in [default_prior("nohost", None, tmp_path, ship)]
             for t in d.tasks}
    assert hosts == {"hostA", "hostB", "nohost"}


def _mean_module(block: str, rows: int = 4):
    """A row sum whose block is named ``block``: structurally equal for any name, as a mean
    lowered from two models' Relax variables (``lv479_red``) is."""
    import tvm
    from tvm import te

    a = te.placeholder((rows, 8), name="A")
    k = te.reduce_axis((0, 8), name="k")
    b = te.compute((rows,), lambda i: te.sum(a[i, k], axis=k), name=block)
    return tvm.IRModule({"main": te.create_prim_func([a, b])})


def _parallel_record(mod, block: str, seconds: float, database):
    """A record of ``mod`` whose trace parallelises ``block``'s outer loop."""
    from tvm.s_tir import Schedule
    from tvm.s_tir import meta_schedule as ms
    from tvm.target import Target

    sch = Schedule(mod)
    sch.parallel(sch.get_loops(sch.get_sblock(block))[0])
    database.commit_tuning_record(ms.database.TuningRecord(
        sch.trace, database.commit_workload(mod), run_secs=[seconds], target=Target("llvm"),
        args_info=ms.arg_info.ArgInfo.from_prim_func(mod["main"])))


def test_schedules_of_a_workload_named_otherwise_are_renamed_onto_it(tmp_path):
    """Two structurally equal workloads whose blocks are named otherwise (a mean lowered from two
    models' Relax variables): the library keeps one workload, the fastest record's, with every
    schedule renamed onto its blocks (the same schedule under two names is one), so its database
    loads; a task named either way gets the schedules, renamed onto its own blocks."""
    from tvm.s_tir import Schedule
    from tvm.s_tir import meta_schedule as ms

    from fisched.costmodel.library import _merge_schedules, known_schedules
    from fisched.metaschedule.records import applies_to

    first, second = _mean_module("lv1_red"), _mean_module("lv2_red")
    workdir, folder = tmp_path / "run", tmp_path / "library" / "h" / "schedules" / "k"
    workdir.mkdir()
    run_db = ms.database.JSONDatabase(work_dir=str(workdir), module_equality="structural")
    _parallel_record(first, "lv1_red", 2e-6, run_db)
    sch = Schedule(first)  # a second schedule, known under lv1_red's name only
    sch.split(sch.get_loops(sch.get_sblock("lv1_red"))[0], [2, None])
    run_db.commit_tuning_record(ms.database.TuningRecord(
        sch.trace, run_db.get_all_tuning_records()[0].workload, run_secs=[3e-6],
        target=run_db.get_all_tuning_records()[0].target,
        args_info=run_db.get_all_tuning_records()[0].args_info))
    folder.mkdir(parents=True)
    lib_db = ms.database.JSONDatabase(work_dir=str(folder), module_equality="structural")
    _parallel_record(second, "lv2_red", 1e-6, lib_db)  # faster: its workload names the group
    del run_db, lib_db
    assert _merge_schedules(folder, workdir, keep=3) == 2  # parallel (twice named), split
    merged = ms.database.JSONDatabase(work_dir=str(folder), module_equality="structural")
    recs = merged.get_all_tuning_records()  # it loads
    assert len(recs) == 2 and all(applies_to(r.trace, second) for r in recs)
    for mod, name, other in [(first, "lv1_red", "lv2_red"), (second, "lv2_red", "lv1_red")]:
        known = known_schedules([mod], [folder], top=3)[0]
        assert len(known) == 2
        for rec in known:
            assert applies_to(rec.trace, mod) and name in str(rec.trace)
            assert other not in str(rec.trace)


def test_a_library_that_cannot_be_opened_costs_only_its_bad_records(tmp_path):
    """A library database MetaSchedule cannot open (a trace committed under a workload that
    names its blocks otherwise, as fisched once merged them) still gives its other records to
    ``known_schedules``; the next merge copies the files aside and keeps those records."""
    from tvm.s_tir import Schedule
    from tvm.s_tir import meta_schedule as ms
    from tvm.target import Target

    from fisched.costmodel.library import _merge_schedules, known_schedules

    first, second = _mean_module("lv1_red"), _mean_module("lv2_red")
    other = _mean_module("lv1_red", rows=6)  # another workload, whose record is sound
    folder = tmp_path / "library" / "h" / "schedules" / "k"
    folder.mkdir(parents=True)
    poisoned = ms.database.JSONDatabase(work_dir=str(folder), module_equality="structural")
    _parallel_record(other, "lv1_red", 1e-6, poisoned)
    sch = Schedule(first)
    sch.parallel(sch.get_loops(sch.get_sblock("lv1_red"))[0])
    poisoned.commit_tuning_record(ms.database.TuningRecord(  # lv1_red's trace under lv2_red
        sch.trace, poisoned.commit_workload(second), run_secs=[1e-6], target=Target("llvm"),
        args_info=ms.arg_info.ArgInfo.from_prim_func(second["main"])))
    del poisoned
    with pytest.raises(Exception):
        ms.database.JSONDatabase(work_dir=str(folder), module_equality="structural")
    assert [len(k) for k in known_schedules([second, other], [folder], top=3)] == [0, 1]
    workdir = tmp_path / "run"
    workdir.mkdir()
    _parallel_record(second, "lv2_red", 2e-6, ms.database.JSONDatabase(
        work_dir=str(workdir), module_equality="structural"))
    assert _merge_schedules(folder, workdir, keep=3) == 2  # the run's and the sound one
    assert list(folder.glob("database_tuning_record.json.unreadable-*"))
    assert [len(k) for k in known_schedules([second, other], [folder], top=3)] == [1, 1]


def _task(name: str, mod):
    from types import SimpleNamespace
    return SimpleNamespace(name=name, mod=mod)


def test_known_schedules_start_a_task_only_under_its_own_block_names(tmp_path, target):
    """The workdir's database already holds the task's workload, without records: known
    schedules go under it. Where it holds a structurally equal one whose blocks are named
    otherwise (``commit_workload`` returns that one, and MetaSchedule's search of the task
    would not replay its records), the task starts from nothing, and the database still opens."""
    from tvm.s_tir import meta_schedule as ms

    from fisched.metaschedule.records import applies_to
    from fisched.tuning.reuse import warm_start

    first, second = _mean_module("lv1_red"), _mean_module("lv2_red")
    library = tmp_path / "library"
    library.mkdir()
    lib_db = ms.database.JSONDatabase(work_dir=str(library), module_equality="structural")
    _parallel_record(second, "lv2_red", 1e-6, lib_db)  # renamed onto the task's blocks
    del lib_db
    for i, (held, reused) in enumerate([(second, {}), (first, {"t": 1})]):
        workdir = tmp_path / f"run{i}"
        workdir.mkdir()
        run_db = ms.database.JSONDatabase(work_dir=str(workdir), module_equality="structural")
        run_db.commit_workload(held)
        assert warm_start([_task("t", first)], run_db, target, [library], rounds=1) == reused
        del run_db
        recs = ms.database.JSONDatabase(work_dir=str(workdir),  # it loads
                                        module_equality="structural").get_all_tuning_records()
        assert len(recs) == len(reused) and all(applies_to(r.trace, first) for r in recs)


def test_a_trace_is_renamed_at_the_blocks_it_made_too():
    """An rfactor makes a block named after the reduction's (``lv1_red_rf``), which the trace
    then looks up by that name: renamed onto a module whose reduction is ``lv2_red``, the
    lookup is of ``lv2_red_rf``, and the schedule is the same one."""
    from tvm.s_tir import Schedule
    from tvm.s_tir import meta_schedule as ms
    from tvm.target import Target

    from fisched.metaschedule.records import for_module

    first, second = _mean_module("lv1_red"), _mean_module("lv2_red")
    sch = Schedule(first)
    _, k = sch.get_loops(sch.get_sblock("lv1_red"))
    _, inner = sch.split(k, [2, None])
    sch.rfactor(inner, 0)
    sch.parallel(sch.get_loops(sch.get_sblock("lv1_red_rf"))[0])
    record = ms.database.TuningRecord(
        sch.trace, ms.database.Workload(first), run_secs=[1e-6], target=Target("llvm"),
        args_info=ms.arg_info.ArgInfo.from_prim_func(first["main"]))
    moved = for_module(record, second)
    assert moved is not None and moved.workload.mod.same_as(second)
    assert "lv2_red_rf" in str(moved.trace) and "lv1_red" not in str(moved.trace)
    again = Schedule(second)
    moved.trace.apply_to_schedule(again, remove_postproc=False)
    assert str(again.mod).replace("lv2_red", "lv1_red") == str(sch.mod)


def test_validation_renames_a_pick_onto_the_task_blocks(tmp_path, target, monkeypatch):
    """The workdir's schedules were measured on a structurally equal workload of another model,
    blocks named otherwise: validation commits its pick renamed onto the task's own blocks, so
    the picks' database opens and the pick replays on the task."""
    from tvm.s_tir import Schedule
    from tvm.s_tir import meta_schedule as ms

    import fisched.tuning.validate as validate_mod
    from fisched.metaschedule.records import applies_to

    workdir = tmp_path / "run"
    workdir.mkdir()
    run_db = ms.database.JSONDatabase(work_dir=str(workdir), module_equality="structural")
    second = _mean_module("lv2_red")
    _parallel_record(second, "lv2_red", 1e-6, run_db)
    record = run_db.get_all_tuning_records()[0]
    sch = Schedule(second)  # a second, distinct schedule: validation needs a choice
    sch.split(sch.get_loops(sch.get_sblock("lv2_red"))[0], [2, None])
    run_db.commit_tuning_record(ms.database.TuningRecord(
        sch.trace, record.workload, run_secs=[2e-6], target=record.target,
        args_info=record.args_info))
    del run_db
    for block in ("lv1_red", "lv2_red"):
        task = _task("t", _mean_module(block))
        monkeypatch.setattr(validate_mod, "extract", lambda model, target, t=task: [t])
        summary = validate_mod.validate(None, workdir, target, top=2, rounds=1)
        assert [row["task"] for row in summary["tasks"]] == ["t"]
        picks = validate_mod.open_validated(workdir).get_all_tuning_records()  # it opens
        assert len(picks) == 1 and applies_to(picks[0].trace, task.mod)
