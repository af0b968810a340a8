"""The built-in models: valid ONNX, and TVM's import computes what ONNX Runtime computes."""

import numpy as np
import pytest

from fisched.models.frontend import load_model
from fisched.models.zoo import ZOO
from fisched.tuning.compile import compile_untuned
from fisched.tuning.measure import VMRunner, max_relative_error


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_builds_and_runs_in_onnxruntime(name):
    model = load_model(name)
    out = model.reference.run(model.inputs)
    assert np.all(np.isfinite(out))
    declared = ZOO[name]().graph.output[0].type.tensor_type.shape.dim
    assert out.shape == tuple(d.dim_value for d in declared)  # ORT warns when they differ
    assert "batch_norm" not in model.mod.script()  # folded into the convolutions


def test_zoo_is_deterministic():
    a = load_model("bert").reference
    m = load_model("bert")
    np.testing.assert_array_equal(a.run(m.inputs), m.reference.run(m.inputs))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bert", "resnet18", "vit", "gpt", "mobilenet_v2", "resnet50",
                                  "efficientnet_lite0"])
def test_zoo_model_matches_onnxruntime_numerically(name, target):
    model = load_model(name)
    out = VMRunner(compile_untuned(model, target))(model.inputs)
    expected = model.reference.run(model.inputs)
    assert out.shape == expected.shape
    assert max_relative_error(out, expected) < 1e-4


def test_zoo_verb_lists_every_model(capsys):
    """``fisched zoo --json``: every built-in model with its inputs and a summary line."""
    import json

    from fisched.cli import main

    assert main(["zoo", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(ZOO)
    assert rows[0]["inputs"]["input"]["shape"] == [1, 3, 224, 224]
    assert all(r["summary"] for r in rows)


def test_global_flags_work_after_the_verb():
    from fisched.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["zoo", "-v"]).verbose is True
    assert parser.parse_args(["-v", "zoo"]).verbose is True
    assert parser.parse_args(["zoo"]).verbose is False
