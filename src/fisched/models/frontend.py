"""Models in, Relax IRModules out: a zoo name, an ONNX file, or a torch ``package.module:factory``.

Every model comes back *prepared*: weights bound as constants, BatchNorm folded into the
convolutions before it, the remaining inference-only ops decomposed. That module is what
``compile`` takes (MetaSchedule's ``compile_relax`` fuses it itself); ``fuse`` turns it into the
legalized, fused module that task extraction needs (a freshly imported one yields no tasks).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FischedError
from .zoo import ZOO, sample_inputs

log = logging.getLogger("fisched")


AS_IS = "as-is"
# Activation layouts ``fuse`` can give the convolutions, with the kernel layout that goes with
# each (the weights follow, folded at compile time). NHWC keeps channels innermost, the axis a
# CPU kernel vectorizes: one resnet conv (3x3, 64 channels, 56x56) tuned 64 trials on znver3
# reached 62 GFLOPS in NHWC/HWIO against 32 in NCHW and 47 in NCHW8c (ONNX Runtime: 124).
LAYOUTS = {AS_IS: None, "nhwc": ("NHWC", "HWIO")}


def default_pipeline(target) -> dict:
    """``prepack`` and ``layout`` for a new workdir on ``target``: prepacked weights and NHWC
    convolutions on CPU (``llvm``) targets (``benchmarks/prepack.py``:
    results/ort_gap/*/prepack.md), the model file's weights and layouts elsewhere."""
    if target.kind.name == "llvm":
        return {"prepack": True, "layout": "nhwc"}
    return {"prepack": False, "layout": AS_IS}


def _layouts(layout: str) -> tuple[str, str] | None:
    """``LAYOUTS[layout]``, or a one-line error for a name it does not hold."""
    if layout not in LAYOUTS:
        raise FischedError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    return LAYOUTS[layout]


@dataclass
class Reference:
    """A framework that runs the same model on the same weights: the numerical and speed yardstick."""

    name: str
    run: Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass
class Model:
    """A prepared Relax module plus the inputs and reference implementation that go with it."""

    name: str
    mod: object  # tvm.IRModule, prepared (see module docstring)
    inputs: dict[str, np.ndarray]
    reference: Reference | None = None
    source: str = ""
    extras: dict = field(default_factory=dict)
    fast_math: bool = True  # how ``mod`` was prepared (``prepare``)
    prepack: bool = False  # weights in a layout each kernel's schedule picks (``fuse``)
    layout: str = AS_IS  # activation layout of the convolutions (``fuse``; ``LAYOUTS``)


def parse_shapes(items: list[str] | None) -> dict[str, list[int]]:
    """``["input=1,3,224,224", "1,8"]`` -> ``{"input": [1,3,224,224], "1": [1,8]}``; a name-less
    shape is keyed by its position so torch factories can take positional inputs."""
    shapes: dict[str, list[int]] = {}
    for pos, item in enumerate(items or []):
        name, _, dims = item.rpartition("=")
        try:
            shape = [int(d) for d in dims.split(",") if d.strip()]
        except ValueError:
            raise FischedError(f"bad input shape {item!r}: expected NAME=D1,D2,... ") from None
        if not shape or any(d <= 0 for d in shape):
            raise FischedError(f"bad input shape {item!r}: dimensions must be positive integers")
        shapes[name or str(pos)] = shape
    return shapes


def prepare(mod, fast_math: bool = True):
    """Fold BatchNorm into convolutions and decompose inference-only ops (before any fusion);
    with ``fast_math``, also swap exp, erf, tanh and softmax for TVM's fast approximations.

    The exact versions lower to a scalar libm call per element, which no schedule vectorizes,
    and whose cost depends on the values: MetaSchedule times candidates on random inputs, so a
    BERT GELU kernel measured at 0.8 ms in tuning took 2.2 ms on the model's own activations
    (benchmarks/profile_model.py), and the tuned BERT ran at 18.8 ms against 12.6 ms with fast
    math (100 trials each, timed side by side; the outputs differed from ONNX Runtime's by
    8.7e-7 relative, against 8.0e-7 exact). The numerical check against the reference
    framework stays in force (``fisched measure``); ``--exact-math`` keeps the exact versions.
    """
    from tvm import relax

    mod = relax.transform.FoldBatchnormToConv2D()(mod)
    mod = relax.transform.DecomposeOpsForInference()(mod)
    mod = relax.transform.CanonicalizeBindings()(mod)
    return relax.transform.FastMathTransform()(mod) if fast_math else mod


def fuse(mod, prepack: bool = False, layout: str = AS_IS):
    """Legalize and fuse a prepared module, the form ``extract_tasks`` needs.

    ``layout`` other than as-is converts every 2-D convolution to that activation layout
    (``relax.transform.ConvertLayout``): the ops after it (bias, activations, residual adds,
    pooling) follow, and a ``layout_transform`` is inserted only where the chain ends (the
    model's input and output, a reshape). The weights' transforms are constants, folded here.

    With ``prepack``, every kernel input that is a constant (the weights of an ONNX model) is
    marked layout-free (``AttachAttrLayoutFreeBuffers``): each task's schedule may then read
    its weights in a layout of its own choosing, rewritten once when the model is compiled
    (``fisched.tuning.compile``), as TVM's ``static_shape_tuning_pipeline(cpu_weight_prepack=True)``
    does. Both change the tasks, so tuning and compiling must agree on them.
    """
    import tvm
    from tvm import relax

    if _layouts(layout) is not None:
        mod = convert_layout(mod, *_layouts(layout))
    passes = [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
               relax.transform.FoldConstant(), relax.transform.FuseOps(),
               relax.transform.FuseTIR()]  # TVM's "zero" pipeline, minus its database step
    if prepack:
        passes.append(relax.transform.AttachAttrLayoutFreeBuffers())
    return tvm.transform.Sequential(passes)(mod)


def convert_layout(mod, data_layout: str, kernel_layout: str):
    """``mod`` with its 2-D convolutions in ``data_layout``/``kernel_layout`` (``ConvertLayout``).

    Constant subexpressions are folded first: TVM 0.27's layout inference crashes (a segfault)
    on an elementwise op between a constant and a scalar, which is how ONNX BatchNorm's epsilon
    arrives. ONNX Clip (ReLU6) arrives as opaque ``call_tir``s that layout inference cannot see
    through, which would put a transpose pair around every one: ``raise_clamps`` turns them
    back into Relax ops first. A module with no convolution, or one still holding an op with a
    scalar operand after folding, is returned unchanged (the latter with a warning).
    """
    import tvm
    from tvm import relax

    mod = raise_clamps(relax.transform.FoldConstant()(mod))
    convs, scalar_ops = 0, set()

    def visit(expr) -> None:
        nonlocal convs
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
            convs += expr.op.name == "relax.nn.conv2d"
            if any(isinstance(a, (tvm.tirx.FloatImm, tvm.tirx.IntImm)) for a in expr.args):
                scalar_ops.add(expr.op.name)

    for func in mod.functions.values():
        if isinstance(func, relax.Function):
            relax.analysis.post_order_visit(func.body, visit)
    if not convs:
        return mod
    if scalar_ops:
        log.warning("convolutions kept in the model file's layout: %s with a scalar operand "
                    "would crash TVM's ConvertLayout", ", ".join(sorted(scalar_ops)))
        return mod
    return relax.transform.ConvertLayout(
        {"relax.nn.conv2d": [data_layout, kernel_layout]})(mod)


def raise_clamps(mod):
    """``call_tir(maximum|minimum, (x, c))`` with a one-element constant ``c`` -> the Relax op.

    The ONNX importer emits Clip as TE calls (``emit_te(topi.maximum, ...)``) on bounds that
    are constants once folded (``FoldConstant`` first, as ``convert_layout`` does). Each callee is
    compared structurally with the PrimFunc ``topi`` makes for the same shapes, so only those
    exact functions are replaced; ``c`` is reshaped to ``x``'s rank so that layout inference
    treats it like a bias.
    """
    import tvm
    from tvm import relax, te, topi
    from tvm.relax.expr_functor import PyExprMutator, mutator
    from tvm_ffi import structural_equal

    ops = {"maximum": (topi.maximum, relax.op.maximum), "minimum": (topi.minimum, relax.op.minimum)}
    call_tir = tvm.ir.Op.get("relax.call_tir")

    def as_op(call):
        gv, args = call.args[0], call.args[1]
        if not isinstance(args, relax.Tuple) or len(args.fields) != 2:
            return None
        x, c = args.fields
        if not isinstance(c, tvm.ir.expr.GenericConst) or int(np.prod(c.value.shape)) != 1:
            return None
        name = gv.name_hint.rstrip("0123456789_")
        if name not in ops:
            return None
        te_fn, op = ops[name]
        a = te.placeholder(list(x.ty.shape.values), x.ty.dtype, "a")
        b = te.placeholder(list(c.ty.shape.values), c.ty.dtype, "b")
        ref = te.create_prim_func([a, b, te_fn(a, b)])
        if not structural_equal(ref.body, mod[gv].body, map_free_vars=True):
            return None
        rank = len(x.ty.shape.values)
        return op(x, relax.const(c.value.numpy().reshape((1,) * rank)))

    @mutator
    class Raise(PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            raised = as_op(call) if call.op.same_as(call_tir) else None
            return call if raised is None else raised

    for gv, func in list(mod.functions.items()):
        if isinstance(func, relax.Function):
            mod[gv] = Raise(mod).visit_expr(func)
    return relax.transform.DeadCodeElimination()(mod)


def _onnx_reference(model_bytes: bytes, threads: int | None) -> Reference:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    return Reference("onnxruntime", lambda feeds: session.run(None, feeds)[0])


def _from_onnx(name: str, model, shapes: dict[str, list[int]], source: str,
               threads: int | None, fast_math: bool) -> Model:
    import onnx
    from tvm.relax.frontend.onnx import from_onnx

    try:
        onnx.checker.check_model(model)
    except Exception as err:  # onnx raises ValidationError and friends
        raise FischedError(f"invalid ONNX model {source}: {str(err).strip().splitlines()[0]}")
    for inp in model.graph.input:  # apply shape overrides so references see the same shapes
        if inp.name in shapes:
            dims = inp.type.tensor_type.shape.dim
            if len(dims) != len(shapes[inp.name]):
                raise FischedError(f"input {inp.name!r} has rank {len(dims)}, "
                                   f"shape given has rank {len(shapes[inp.name])}")
            for dim, value in zip(dims, shapes[inp.name]):
                dim.Clear()
                dim.dim_value = value
    inputs = sample_inputs(model)
    shape_dict = {k: list(v.shape) for k, v in inputs.items()}
    dtype_dict = {k: str(v.dtype) for k, v in inputs.items()}
    try:
        mod = from_onnx(model, shape_dict=shape_dict, dtype_dict=dtype_dict,
                        keep_params_in_input=False)
    except Exception as err:
        msg = str(err).strip().splitlines()
        raise FischedError(f"cannot import {source}: {msg[-1] if msg else type(err).__name__}")
    return Model(name, prepare(mod, fast_math), inputs,
                 _onnx_reference(model.SerializeToString(), threads), source,
                 fast_math=fast_math)


def _from_torch(spec: str, shapes: dict[str, list[int]], threads: int | None,
                fast_math: bool) -> Model:
    try:
        import torch
        from tvm.relax.frontend.torch import from_exported_program
    except ImportError:
        raise FischedError("torch models need torch: pip install 'fisched[torch]'") from None
    module_name, _, factory_name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError) as err:
        raise FischedError(f"cannot load torch factory {spec!r}: {err}") from None
    if not shapes:
        raise FischedError(f"torch model {spec!r} needs --input-shape (e.g. 1,3,224,224)")
    net = factory().eval()
    rng = np.random.default_rng(0)
    inputs = {(k if not k.isdigit() else f"input{k}"): rng.standard_normal(v).astype(np.float32)
              for k, v in shapes.items()}
    args = tuple(torch.from_numpy(a) for a in inputs.values())
    try:
        exported = torch.export.export(net, args)
        mod = from_exported_program(exported, keep_params_as_input=False,
                                    unwrap_unit_return_tuple=True)
    except Exception as err:
        msg = str(err).strip().splitlines()
        raise FischedError(f"cannot import torch model {spec}: {msg[-1] if msg else err!r}")

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        if threads:
            torch.set_num_threads(threads)
        with torch.no_grad():
            out = net(*(torch.from_numpy(a) for a in feeds.values()))
        return (out[0] if isinstance(out, (tuple, list)) else out).numpy()

    return Model(model_name(spec), prepare(mod, fast_math), inputs, Reference("torch", run), spec,
                 fast_math=fast_math)


def model_name(spec: str) -> str:
    """The name a model spec loads under (zoo name, file stem or factory name), without loading."""
    if spec in ZOO:
        return spec
    if ":" in spec and not spec.endswith(".onnx") and not Path(spec).exists():
        return spec.rpartition(":")[2]
    return Path(spec).stem


def load_model(spec: str, input_shapes: list[str] | None = None,
               threads: int | None = None, fast_math: bool = True,
               prepack: bool = False, layout: str = AS_IS) -> Model:
    """Load a zoo name, an ``.onnx`` path or a ``package.module:factory`` torch spec.

    ``threads`` sets the reference framework's thread count so comparisons are like for like;
    ``fast_math`` as in ``prepare``; ``prepack`` and ``layout`` as in ``fuse``.
    """
    _layouts(layout)  # refuse a bad name before loading
    model = _load(spec, input_shapes, threads, fast_math)
    model.prepack = prepack
    model.layout = layout
    return model


def _load(spec: str, input_shapes: list[str] | None, threads: int | None,
          fast_math: bool) -> Model:
    shapes = parse_shapes(input_shapes)
    if spec in ZOO:
        return _from_onnx(spec, ZOO[spec](), shapes, f"zoo:{spec}", threads, fast_math)
    path = Path(spec)
    if spec.endswith(".onnx") or path.exists():
        import onnx
        from google.protobuf.message import DecodeError

        if not path.is_file():
            raise FischedError(f"model file not found: {spec}")
        if not os.access(path, os.R_OK):
            raise FischedError(f"model file not readable: {spec}")
        try:
            model = onnx.load(str(path))
        except (DecodeError, ValueError, RuntimeError, OSError) as err:
            raise FischedError(f"malformed ONNX file {spec}: {str(err).strip()[:200]}") from None
        if not model.graph.node:
            raise FischedError(f"malformed ONNX file {spec}: the graph has no nodes")
        return _from_onnx(path.stem, model, shapes, str(path), threads, fast_math)
    if ":" in spec:
        return _from_torch(spec, shapes, threads, fast_math)
    raise FischedError(f"unknown model {spec!r}: not a zoo name ({', '.join(ZOO)}), "
                       "an .onnx file, or a torch package.module:factory")
