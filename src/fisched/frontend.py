"""Models in, Relax IRModules out: a zoo name, an ONNX file, or a torch ``package.module:factory``.

Every model comes back *prepared*: weights bound as constants, BatchNorm folded into the
convolutions before it, the remaining inference-only ops decomposed. That module is what
``compile`` takes (MetaSchedule's ``compile_relax`` fuses it itself); ``fuse`` turns it into the
legalized, fused module that task extraction needs (a freshly imported one yields no tasks).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FischedError
from .zoo import ZOO, sample_inputs


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


def fuse(mod, prepack: bool = False):
    """Legalize and fuse a prepared module, the form ``extract_tasks`` needs.

    With ``prepack``, every kernel input that is a constant (the weights of an ONNX model) is
    marked layout-free (``AttachAttrLayoutFreeBuffers``): each task's schedule may then read
    its weights in a layout of its own choosing, rewritten once when the model is compiled
    (``fisched.compile``), as TVM's ``static_shape_tuning_pipeline(cpu_weight_prepack=True)``
    does. The marks change the tasks, so tuning and compiling must agree on them.
    """
    import tvm
    from tvm import relax

    passes = [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
              relax.transform.FoldConstant(), relax.transform.FuseOps(),
              relax.transform.FuseTIR()]  # TVM's "zero" pipeline, minus its database step
    if prepack:
        passes.append(relax.transform.AttachAttrLayoutFreeBuffers())
    return tvm.transform.Sequential(passes)(mod)


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
               prepack: bool = False) -> Model:
    """Load a zoo name, an ``.onnx`` path or a ``package.module:factory`` torch spec.

    ``threads`` sets the reference framework's thread count so comparisons are like for like;
    ``fast_math`` as in ``prepare``; ``prepack`` as in ``fuse``.
    """
    model = _load(spec, input_shapes, threads, fast_math)
    model.prepack = prepack
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
