"""Validation: the compiled model uses the schedule that re-times fastest, not the luckiest record."""

from __future__ import annotations

import statistics

import pytest

from fisched.metaschedule.records import best_distinct, open_database, records_by_task
from fisched.models.frontend import load_model
from fisched.tuning.compile import compile_model, workdir_database
from fisched.tuning.tune import extract, tune
from fisched.tuning.validate import open_validated, validate, validated_dir


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, target):
    """The tiny model tuned 16 trials, shared by this module's tests (a later test sees what an
    earlier one added: validation works on whatever records the workdir holds)."""
    import onnx
    from conftest import tiny_onnx_model

    root = tmp_path_factory.mktemp("validate")
    onnx.save(tiny_onnx_model(), str(root / "tiny.onnx"))
    model = load_model(str(root / "tiny.onnx"), threads=2)
    wd = root / "w"
    tune(model, wd, target, 16, progress=False)
    return model, wd


def _picked_trace(database, task, target):
    record = database.query_tuning_record(task.mod, target, "main")
    return None if record is None else str(record.trace)


@pytest.mark.slow
def test_validation_compiles_the_fastest_on_retiming(tuned, target, monkeypatch):
    import fisched.tuning.validate

    model, wd = tuned
    tasks = extract(model, target)
    records = records_by_task(open_database(wd), [t.mod for t in tasks])
    choosy = [i for i, r in enumerate(records) if len(best_distinct(r, 3)) >= 2]
    assert choosy, "the tiny model should leave some task a choice after 16 trials"

    # re-timing says the *last* contender is fastest: the pick must follow the re-timing
    def last_is_fastest(libs, args, rounds, dev):
        n = len(libs)
        return [[1e-3 * (n - i)] * rounds for i in range(n)]

    monkeypatch.setattr(fisched.tuning.validate, "time_candidates", last_is_fastest)
    summary = validate(model, wd, target, top=3, rounds=2)
    assert len(summary["tasks"]) == len(choosy)
    merged = workdir_database(wd)
    for row in summary["tasks"]:
        i = next(k for k, t in enumerate(tasks) if t.name == row["task"])
        contenders = best_distinct(records[i], 3)
        assert row["winner"] == len(contenders) - 1 and not row["kept"]
        assert row["retimed_ms"][row["winner"]] == pytest.approx(1.0)
        assert _picked_trace(merged, tasks[i], target) == str(contenders[-1].trace)
        # MetaSchedule's own pick, the lowest record, is another schedule
        assert _picked_trace(open_database(wd), tasks[i], target) == str(contenders[0].trace)
    assert compile_model(model, wd, target).exists()

    # more tuning makes the picks stale: they are dropped, MetaSchedule's pick applies again
    tune(model, wd, target, 20, progress=False)
    assert open_validated(wd) is None and not validated_dir(wd).exists()


@pytest.mark.slow
def test_validation_retimes_for_real(tuned, target):
    model, wd = tuned
    summary = validate(model, wd, target, top=2, rounds=3)
    picks = open_validated(wd)
    assert summary["tasks"] and picks is not None
    for row in summary["tasks"]:
        assert len(row["retimed_ms"]) == len(row["recorded_ms"]) == 2
        assert all(0 < ms < 1000 for ms in row["retimed_ms"])
        assert row["retimed_ms"][row["winner"]] == min(row["retimed_ms"])
    stored = [r for r in picks.get_all_tuning_records()]
    assert len(stored) == len(summary["tasks"])
    medians = sorted(statistics.median(float(s) for s in r.run_secs) * 1e3 for r in stored)
    winners = sorted(row["retimed_ms"][row["winner"]] for row in summary["tasks"])
    assert medians == pytest.approx(winners)
