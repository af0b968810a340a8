"""The verbs that read a finished workdir: show and run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fisched.cli import main


@pytest.mark.slow
def test_show_prints_settings_and_tasks(tuned_tiny, capsys):
    assert main(["show", str(tuned_tiny), "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["settings"]["model"] == "tiny" and state["library"] is True
    assert state["report"]["records"] >= 4 and state["report"]["tasks"]
    assert main(["show", str(tuned_tiny)]) == 0
    text = capsys.readouterr().out
    assert "layout nhwc" in text and state["report"]["tasks"][0]["task"] in text
    assert "kernels register-tiled" in text


def test_tune_keeps_a_curve_that_show_draws(tuned_tiny, tmp_path, capsys):
    """A point per measured batch, trials rising to the records in the database, the estimate
    set exactly when every task has a valid schedule; ``show --plot`` draws it."""
    from fisched.metaschedule.target import host_cpu

    saved = json.loads((tuned_tiny / "curve.json").read_text())
    assert saved["host_cpu"] == host_cpu()  # whose seconds these are
    meta = json.loads((tuned_tiny / "fisched.json").read_text())
    assert meta["provenance"]["host_cpu"] == host_cpu()
    curve = saved["points"]
    trials = [p["trials"] for p in curve]
    assert trials == sorted(trials) and len(set(trials)) == len(trials)
    assert trials[-1] == json.loads((tuned_tiny / "report.json").read_text())["records"]
    assert all(b["seconds"] >= a["seconds"] for a, b in zip(curve, curve[1:]))
    tasks = len(json.loads((tuned_tiny / "report.json").read_text())["tasks"])
    assert all((p["estimate_ms"] is not None) == (p["tasks_tuned"] == tasks) for p in curve)
    assert all(p["estimate_ms"] is None or p["estimate_ms"] > 0 for p in curve)
    assert [p["tasks_tuned"] for p in curve] == sorted(p["tasks_tuned"] for p in curve)
    png = tmp_path / "curve.png"
    assert main(["show", str(tuned_tiny), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "tuning curve:" in capsys.readouterr().out


def test_show_of_an_untuned_dir_is_one_line(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 2
    assert "has not been tuned" in capsys.readouterr().err


def test_run_writes_outputs_and_refuses_bad_inputs(tuned_tiny, tmp_path, capsys):
    from fisched.models.frontend import load_model

    good = tmp_path / "in.npz"
    x = np.random.default_rng(0).standard_normal((1, 4, 16, 16)).astype(np.float32)
    np.savez(good, input=x)
    out = tmp_path / "out.npz"
    assert main(["run", str(tuned_tiny), "--inputs", str(good), "-o", str(out), "--repeat", "2",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outputs"] == {"output0": [1, 10]} and len(result["runs_ms"]) == 2
    model = load_model(str(tuned_tiny.parent / "tiny.onnx"))
    expected = model.reference.run({"input": x})
    with np.load(out) as npz:
        assert np.allclose(npz["output0"], expected, rtol=1e-4, atol=1e-4)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, input=x[:, :2])
    assert main(["run", str(tuned_tiny), "--inputs", str(wrong)]) == 2
    assert "was tuned for [1, 4, 16, 16]" in capsys.readouterr().err
    np.savez(wrong, other=x)
    assert main(["run", str(tuned_tiny), "--inputs", str(wrong)]) == 2
    assert "has no array 'input'" in capsys.readouterr().err


def test_measure_reads_the_model_from_the_workdir_and_fails_a_bad_check(tuned_tiny, capsys):
    """``fisched measure --workdir W`` needs no model spec (fisched.json names it); a numerical
    check that fails ends in one line and exit 2, after the report is written."""
    args = ["measure", "--workdir", str(tuned_tiny), "--budget", "0.2", "--skip-untuned"]
    assert main(args) == 0
    assert "max relative error" in capsys.readouterr().out
    rows = json.loads((tuned_tiny / "measure.json").read_text())
    assert rows["max_relative_error"]["tuned vs onnxruntime"] < 1e-4  # prepacked, NHWC
    assert main([*args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in printed["latency"]] == ["TVM tuned (fisched)", "onnxruntime"]
    assert all(r["runs_ms"] for r in printed["latency"])
    assert main([*args, "--tolerance", "0"]) == 2
    assert "numerical check failed" in capsys.readouterr().err
    assert main(["measure"]) == 2
    assert "needs a MODEL or a --workdir" in capsys.readouterr().err
