"""Model input paths and the one-line errors a user gets for bad input."""

import sys

import onnx
import pytest
from onnx import TensorProto, helper

from fisched.cli import main
from fisched.errors import FischedError
from fisched.models.frontend import load_model, parse_shapes
from fisched.tuning.compile import compile_untuned
from fisched.tuning.measure import VMRunner, max_relative_error


def test_onnx_file_loads_with_reference(tiny_onnx, target):
    model = load_model(str(tiny_onnx))
    assert model.name == "tiny"
    assert model.reference.name == "onnxruntime"
    out = VMRunner(compile_untuned(model, target))(model.inputs)
    assert max_relative_error(out, model.reference.run(model.inputs)) < 1e-5


def test_onnx_with_external_data(tmp_path, target):
    from conftest import tiny_onnx_model

    path = tmp_path / "ext.onnx"
    onnx.save(tiny_onnx_model(), str(path), save_as_external_data=True,
              all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    assert (tmp_path / "ext.data").exists()
    model = load_model(str(path))
    out = VMRunner(compile_untuned(model, target))(model.inputs)
    assert max_relative_error(out, model.reference.run(model.inputs)) < 1e-5


def test_fast_math_is_the_default_and_can_be_refused():
    fast = load_model("bert")
    exact = load_model("bert", fast_math=False)
    assert fast.fast_math and not exact.fast_math
    fast, exact = fast.mod.script(), exact.mod.script()
    assert "R.erf" in exact and "R.nn.softmax" in exact  # scalar libm calls per element
    assert "R.erf" not in fast and "R.nn.softmax" not in fast
    assert "fast_erf" in fast and "fast_softmax" in fast


def test_parse_shapes():
    assert parse_shapes(["x=1,3,8,8", "2,4"]) == {"x": [1, 3, 8, 8], "1": [2, 4]}
    with pytest.raises(FischedError):
        parse_shapes(["x=1,a"])
    with pytest.raises(FischedError):
        parse_shapes(["x=1,0"])


def _unsupported_op_model(path):
    node = helper.make_node("NoSuchOp", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(path))


@pytest.mark.parametrize("case", ["missing", "malformed", "empty", "unsupported-op",
                                  "unknown-spec", "bad-torch-factory"])
def test_bad_model_is_one_line_and_nonzero(case, tmp_path, capsys):
    spec = {"missing": str(tmp_path / "nope.onnx"), "malformed": str(tmp_path / "bad.onnx"),
            "empty": str(tmp_path / "empty.onnx"), "unsupported-op": str(tmp_path / "op.onnx"),
            "unknown-spec": "no_such_model", "bad-torch-factory": "no_such_pkg.mod:make"}[case]
    if case == "malformed":
        (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage that is not protobuf\xff\xff")
    if case == "empty":
        (tmp_path / "empty.onnx").write_bytes(b"")
    if case == "unsupported-op":
        _unsupported_op_model(tmp_path / "op.onnx")
    code = main(["tune", spec, "--trials", "4", "--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert err[-1].startswith("fisched: error:")
    assert len([line for line in err if line.startswith("fisched: error")]) == 1
    assert not (tmp_path / "w" / "database_tuning_record.json").exists()


def test_bad_target_on_cli(capsys, tmp_path):
    code = main(["tune", "bert", "--target", '{"kind": "llvm", "mcpu": 7, "num-cores": "x"}',
                 "--workdir", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip().startswith("fisched: error: bad target")


@pytest.mark.parametrize("trials", ["0", "-3"])
def test_nonpositive_trials(trials, capsys, tmp_path):
    assert main(["tune", "bert", "--trials", trials, "--workdir", str(tmp_path)]) == 2
    assert "--trials must be positive" in capsys.readouterr().err


@pytest.mark.slow
def test_torch_factory(tmp_path, monkeypatch, target):
    torch = pytest.importorskip("torch")
    (tmp_path / "tinynet.py").write_text(
        "import torch\n"
        "def make():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),\n"
        "        torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 5))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = load_model("tinynet:make", ["1,3,8,8"])
    assert model.name == "make" and model.reference.name == "torch"
    out = VMRunner(compile_untuned(model, target))(model.inputs)
    assert out.shape == (1, 5)
    assert max_relative_error(out, model.reference.run(model.inputs)) < 1e-5
    sys.modules.pop("tinynet", None)


def _relu6_block_model():
    """Conv-BN-ReLU, then Conv-BN-ReLU6, a depthwise Conv-BN-ReLU6, Conv-BN with a residual
    add: mobilenet's inverted residual in miniature (Clip arrives from ONNX as opaque TE calls)."""
    from fisched.models.zoo import GraphBuilder

    g = GraphBuilder(seed=3)
    a = g.conv_bn("input", 8, 8, 3)
    x = g.conv_bn(a, 8, 16, 1, act="relu6")
    x = g.conv_bn(x, 16, 16, 3, groups=16, act="relu6")
    x = g.op("Add", [g.conv_bn(x, 16, 8, 1, act=None), a])
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8, 12, 12])
    return g.model([inp], x, [1, 8, 12, 12], "relu6_block")


def _op_counts(mod, of_constants: bool = True) -> dict[str, int]:
    """Relax op name -> calls in ``mod``; without ``of_constants``, calls whose inputs are all
    constants (weight transforms, folded at compile time) are not counted."""
    import tvm
    from tvm import relax

    counts: dict[str, int] = {}

    def visit(expr) -> None:
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
            if not of_constants and all(isinstance(a, tvm.ir.expr.GenericConst)
                                        for a in expr.args):
                return
            counts[expr.op.name] = counts.get(expr.op.name, 0) + 1

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    return counts


@pytest.mark.slow
def test_nhwc_transposes_only_at_the_ends_and_keeps_numerics(tmp_path, target):
    """Every convolution goes NHWC, ReLU6 and the residual add follow it, so the only transposes
    left are the model's input and output; the untuned library still matches ONNX Runtime."""
    from tvm import relax

    from fisched.models.frontend import convert_layout, raise_clamps

    path = tmp_path / "block.onnx"
    onnx.save(_relu6_block_model(), str(path))
    model = load_model(str(path), layout="nhwc")
    assert _op_counts(model.mod)["relax.call_tir"] == 4  # two Clips, as TE maximum + minimum
    raised = _op_counts(raise_clamps(relax.transform.FoldConstant()(model.mod)))
    assert raised.get("relax.call_tir", 0) == 0 and raised["relax.maximum"] == 2, raised
    counts = _op_counts(convert_layout(model.mod, "NHWC", "HWIO"), of_constants=False)
    assert counts["relax.permute_dims"] == 2, counts  # in and out, nothing between
    lib = compile_untuned(model, target)
    out = VMRunner(lib)(model.inputs)
    assert max_relative_error(out, model.reference.run(model.inputs)) < 1e-4


def test_convert_layout_leaves_models_without_convolutions(target):
    """A model with no 2-D convolution (BERT) comes back with no layout change at all."""
    from tvm import relax

    from fisched.models.frontend import convert_layout

    model = load_model("bert")
    folded = relax.transform.FoldConstant()(model.mod)
    assert _op_counts(convert_layout(model.mod, "NHWC", "HWIO")) == _op_counts(folded)


def test_unknown_layout_is_refused():
    with pytest.raises(FischedError, match="unknown layout"):
        load_model("resnet18", layout="NCHW4c")
