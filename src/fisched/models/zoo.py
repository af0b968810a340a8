"""Built-in evaluation models, written as ONNX graphs with seeded random weights.

Why ONNX and not torch or Relax's ``nn`` frontend: the zoo then takes exactly the path a user's
own ``.onnx`` file takes (``relax.frontend.onnx.from_onnx``), ONNX Runtime gives a numerical
reference on the very same weights for free, and nothing heavier than ``onnx`` (already a
dependency) is needed. Nothing is downloaded: the weights are drawn from a seeded generator, which
is all a tuning study needs (kernel speed does not depend on weight values).

Every model is batch 1, fp32. BatchNorm is kept as real ``BatchNormalization`` nodes, as exported
models have them, so the import path has to fold them like it would for a user's model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17


class GraphBuilder:
    """Appends ONNX nodes and seeded initializers; each op method returns its output's name."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, array: np.ndarray, prefix: str = "w") -> str:
        name = self._name(prefix)
        self.inits.append(onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(self, shape: tuple[int, ...], fan_in: int) -> str:
        std = math.sqrt(2.0 / fan_in)
        return self.const(self.rng.normal(0.0, std, shape).astype(np.float32))

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    # --- convolutional pieces -------------------------------------------------------------
    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
             bias: bool = False) -> str:
        w = self.weight((cout, cin // groups, k, k), fan_in=cin // groups * k * k)
        inputs = [x, w]
        if bias:
            inputs.append(self.const(np.zeros(cout, np.float32)))
        pad = k // 2
        return self.op("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride],
                       pads=[pad, pad, pad, pad], group=groups)

    def bn(self, x: str, c: int) -> str:
        scale = self.const(self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        shift = self.const(self.rng.normal(0.0, 0.1, c).astype(np.float32))
        mean = self.const(self.rng.normal(0.0, 0.1, c).astype(np.float32))
        var = self.const(self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        return self.op("BatchNormalization", [x, scale, shift, mean, var], epsilon=1e-5)

    def conv_bn(self, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                act: str | None = "relu") -> str:
        y = self.bn(self.conv(x, cin, cout, k, stride, groups), cout)
        if act == "relu":
            y = self.op("Relu", [y])
        elif act == "relu6":
            lo = self.const(np.array(0.0, np.float32))
            hi = self.const(np.array(6.0, np.float32))
            y = self.op("Clip", [y, lo, hi])
        return y

    def classifier(self, x: str, c: int, classes: int = 1000) -> str:
        y = self.op("Flatten", [self.op("GlobalAveragePool", [x])], axis=1)
        w = self.weight((c, classes), fan_in=c)
        b = self.const(np.zeros(classes, np.float32))
        return self.op("Gemm", [y, w, b])

    # --- transformer pieces ---------------------------------------------------------------
    def dense(self, x: str, din: int, dout: int) -> str:
        w = self.const((self.rng.normal(0.0, 1.0 / math.sqrt(din), (din, dout))).astype(np.float32))
        b = self.const(self.rng.normal(0.0, 0.02, dout).astype(np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x: str, d: int) -> str:
        g = self.const(np.ones(d, np.float32))
        b = self.const(np.zeros(d, np.float32))
        return self.op("LayerNormalization", [x, g, b], axis=-1, epsilon=1e-12)

    def gelu(self, x: str) -> str:
        # Erf form, as BERT exports it: 0.5 * x * (1 + erf(x / sqrt(2)))
        scaled = self.op("Div", [x, self.const(np.array(math.sqrt(2.0), np.float32))])
        one = self.const(np.array(1.0, np.float32))
        half = self.const(np.array(0.5, np.float32))
        return self.op("Mul", [self.op("Mul", [x, self.op("Add", [self.op("Erf", [scaled]), one])]),
                               half])

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.op("Reshape", [x, self.const(np.array(shape, np.int64), "shape")])

    def attention(self, x: str, seq: int, hidden: int, heads: int, causal: bool = False) -> str:
        """Multi-head self-attention over [1, seq, hidden], output projection included;
        ``causal`` masks each token's view of the ones after it (a decoder's attention)."""
        head_dim = hidden // heads

        def split(t: str, perm: list[int]) -> str:
            return self.op("Transpose", [self.reshape(t, [1, seq, heads, head_dim])], perm=perm)

        q = split(self.dense(x, hidden, hidden), [0, 2, 1, 3])
        k = split(self.dense(x, hidden, hidden), [0, 2, 3, 1])
        v = split(self.dense(x, hidden, hidden), [0, 2, 1, 3])
        inv_sqrt_d = self.const(np.array(1.0 / math.sqrt(head_dim), np.float32))
        scores = self.op("Mul", [self.op("MatMul", [q, k]), inv_sqrt_d])
        if causal:  # additive mask, as exported decoders apply it: -1e9 above the diagonal
            mask = np.triu(np.full((seq, seq), -1e9, np.float32), k=1)[None, None]
            scores = self.op("Add", [scores, self.const(mask, "mask")])
        ctx = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        ctx = self.reshape(self.op("Transpose", [ctx], perm=[0, 2, 1, 3]), [1, seq, hidden])
        return self.dense(ctx, hidden, hidden)

    def mlp(self, x: str, hidden: int) -> str:
        """The transformer's feed-forward block: hidden -> 4 hidden (GELU) -> hidden."""
        return self.dense(self.gelu(self.dense(x, hidden, 4 * hidden)), 4 * hidden, hidden)

    def model(self, inputs: list[onnx.ValueInfoProto], output: str, out_shape: list[int],
              name: str) -> onnx.ModelProto:
        out = helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)
        graph = helper.make_graph(self.nodes, name, inputs, [out], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="fisched.models.zoo")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def _image_input() -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])


def resnet(depth: int = 18, seed: int = 0) -> onnx.ModelProto:
    """ResNet-18/34 (basic blocks) or ResNet-50 (bottlenecks), ImageNet layout, batch 1."""
    blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}[depth]
    bottleneck = depth >= 50
    g = GraphBuilder(seed)
    x = g.conv_bn("input", 3, 64, 7, stride=2)
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for stage, n in enumerate(blocks):
        width = 64 * 2**stage
        cout = width * 4 if bottleneck else width
        for i in range(n):
            stride = 2 if (i == 0 and stage > 0) else 1
            if bottleneck:
                y = g.conv_bn(x, cin, width, 1)
                y = g.conv_bn(y, width, width, 3, stride)
                y = g.conv_bn(y, width, cout, 1, act=None)
            else:
                y = g.conv_bn(x, cin, width, 3, stride)
                y = g.conv_bn(y, width, cout, 3, act=None)
            short = x if (stride == 1 and cin == cout) else g.conv_bn(x, cin, cout, 1, stride,
                                                                          act=None)
            x = g.op("Relu", [g.op("Add", [y, short])])
            cin = cout
    return g.model([_image_input()], g.classifier(x, cin), [1, 1000], f"resnet{depth}")


def _inverted_residual_net(config: list[tuple[int, int, int, int, int]], name: str,
                           seed: int) -> onnx.ModelProto:
    """A 3x3 stem of 32 channels, inverted residual blocks (1x1 expansion, depthwise k x k,
    1x1 projection; ReLU6; a residual add where shapes allow), a 1x1 head of 1280 channels
    and the classifier. ``config``: per stage (expansion, channels, repeats, first stride,
    depthwise kernel)."""
    g = GraphBuilder(seed)
    x = g.conv_bn("input", 3, 32, 3, stride=2, act="relu6")
    cin = 32
    for t, c, n, s, k in config:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = x if t == 1 else g.conv_bn(x, cin, hidden, 1, act="relu6")
            y = g.conv_bn(y, hidden, hidden, k, stride, groups=hidden, act="relu6")
            y = g.conv_bn(y, hidden, c, 1, act=None)
            x = g.op("Add", [x, y]) if (stride == 1 and cin == c) else y
            cin = c
    x = g.conv_bn(x, cin, 1280, 1, act="relu6")
    return g.model([_image_input()], g.classifier(x, 1280), [1, 1000], name)


def mobilenet_v2(seed: int = 0) -> onnx.ModelProto:
    """MobileNetV2 (width 1.0): inverted residuals with depthwise 3x3 convolutions and ReLU6."""
    config = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 32, 3, 2, 3), (6, 64, 4, 2, 3),
              (6, 96, 3, 1, 3), (6, 160, 3, 2, 3), (6, 320, 1, 1, 3)]
    return _inverted_residual_net(config, "mobilenet_v2", seed)


def efficientnet_lite0(seed: int = 0) -> onnx.ModelProto:
    """EfficientNet-Lite0: inverted residuals with depthwise 3x3 and 5x5 convolutions, ReLU6.

    EfficientNet-B0's blocks without squeeze-excitation, as its Lite variants are. Not an
    evaluation model: a second depthwise family beside MobileNetV2 (other channel counts, 5x5
    kernels), so that a prior holding one of them out still has depthwise convolutions to
    learn from."""
    config = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
              (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]
    return _inverted_residual_net(config, "efficientnet_lite0", seed)


def bert(layers: int = 4, hidden: int = 256, heads: int = 4, seq: int = 128,
         vocab: int = 30522, seed: int = 0) -> onnx.ModelProto:
    """A small BERT encoder (embeddings + post-norm transformer layers), returning hidden states.

    The input is ``input_ids`` (int64, [1, seq]); there is no attention mask (all tokens attend).
    """
    g = GraphBuilder(seed)
    word = g.const(g.rng.normal(0.0, 0.02, (vocab, hidden)).astype(np.float32))
    pos = g.const(g.rng.normal(0.0, 0.02, (1, seq, hidden)).astype(np.float32))
    x = g.op("Add", [g.op("Gather", [word, "input_ids"], axis=0), pos])
    x = g.layer_norm(x, hidden)
    for _ in range(layers):
        x = g.layer_norm(g.op("Add", [g.attention(x, seq, hidden, heads), x]), hidden)
        x = g.layer_norm(g.op("Add", [g.mlp(x, hidden), x]), hidden)
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])
    return g.model([ids], x, [1, seq, hidden], "bert")


def vit(layers: int = 6, hidden: int = 192, heads: int = 3, patch: int = 16,
        seed: int = 0) -> onnx.ModelProto:
    """A ViT-Tiny-shaped vision transformer (pre-norm layers, class token), ImageNet input.

    Not one of the evaluation models: it is in the collection so that the shipped dataset has a
    transformer whose tasks are not BERT's (197 tokens of 192 against 128 of 256, a patch
    convolution, pre-norm), for a prior that is to transfer to transformers it has not seen.
    """
    g = GraphBuilder(seed)
    grid = 224 // patch
    seq = grid * grid + 1
    w = g.weight((hidden, 3, patch, patch), fan_in=3 * patch * patch)
    x = g.op("Conv", ["input", w, g.const(np.zeros(hidden, np.float32))],
             kernel_shape=[patch, patch], strides=[patch, patch])
    x = g.op("Transpose", [g.reshape(x, [1, hidden, grid * grid])], perm=[0, 2, 1])
    cls = g.const(g.rng.normal(0.0, 0.02, (1, 1, hidden)).astype(np.float32))
    pos = g.const(g.rng.normal(0.0, 0.02, (1, seq, hidden)).astype(np.float32))
    x = g.op("Add", [g.op("Concat", [cls, x], axis=1), pos])
    for _ in range(layers):
        x = g.op("Add", [x, g.attention(g.layer_norm(x, hidden), seq, hidden, heads)])
        x = g.op("Add", [x, g.mlp(g.layer_norm(x, hidden), hidden)])
    # the index is a 1-element tensor (``const`` stores arrays at least 1-d), so the class
    # token keeps its axis and the logits are [1, 1, 1000]
    first = g.op("Gather", [g.layer_norm(x, hidden), g.const(np.array(0, np.int64), "idx")],
                 axis=1)
    return g.model([_image_input()], g.dense(first, hidden, 1000), [1, 1, 1000], "vit")


def gpt(layers: int = 4, hidden: int = 384, heads: int = 6, seq: int = 64, vocab: int = 8192,
        seed: int = 0) -> onnx.ModelProto:
    """A small GPT-style decoder (pre-norm layers, causal attention) returning next-token logits.

    Like ``vit``, not an evaluation model: it widens the collection with a decoder, whose
    shapes are neither BERT's nor ViT's (64 tokens of 384, 6 heads of 64, a masked softmax, a
    language-model head onto 8,192 tokens). The input is ``input_ids`` (int64, [1, seq]).
    """
    g = GraphBuilder(seed)
    word = g.const(g.rng.normal(0.0, 0.02, (vocab, hidden)).astype(np.float32))
    pos = g.const(g.rng.normal(0.0, 0.02, (1, seq, hidden)).astype(np.float32))
    x = g.op("Add", [g.op("Gather", [word, "input_ids"], axis=0), pos])
    for _ in range(layers):
        x = g.op("Add", [x, g.attention(g.layer_norm(x, hidden), seq, hidden, heads,
                                        causal=True)])
        x = g.op("Add", [x, g.mlp(g.layer_norm(x, hidden), hidden)])
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, seq])
    return g.model([ids], g.dense(g.layer_norm(x, hidden), hidden, vocab), [1, seq, vocab],
                   "gpt")


ZOO: dict[str, Callable[[], onnx.ModelProto]] = {
    "resnet18": lambda: resnet(18),
    "mobilenet_v2": mobilenet_v2,
    "bert": bert,
    "resnet50": lambda: resnet(50),
    "vit": vit,
    "gpt": gpt,
    "efficientnet_lite0": efficientnet_lite0,
}
"""Model name -> builder. The first three are the paper's evaluation models; the others widen
the shipped dataset (``fisched collect``)."""

_SUMMARIES = {"resnet18": "ResNet-18 (basic blocks), ImageNet 224x224, batch 1",
              "resnet50": "ResNet-50 (bottlenecks), ImageNet 224x224, batch 1"}


def describe_zoo() -> list[dict]:
    """Per built-in model: name, graph inputs (shape, dtype) and a one-line summary (the
    builder's docstring's first line). Builds each graph, which takes a second or two."""
    rows = []
    for name, build in ZOO.items():
        doc = (getattr(build, "__doc__", None) or "").strip().splitlines()
        inputs = {n: {"shape": shape, "dtype": str(dtype)}
                  for n, shape, dtype in graph_inputs(build())}
        rows.append({"name": name, "inputs": inputs,
                     "summary": _SUMMARIES.get(name) or (doc[0] if doc else "")})
    return rows


def graph_inputs(model: onnx.ModelProto) -> list[tuple[str, list[int], np.dtype]]:
    """(name, shape, numpy dtype) of each graph input that is not an initializer; a dynamic
    dimension shows as 0."""
    init_names = {init.name for init in model.graph.initializer}
    rows = []
    for inp in model.graph.input:
        if inp.name in init_names:
            continue
        ttype = inp.type.tensor_type
        rows.append((inp.name, [d.dim_value for d in ttype.shape.dim],
                     onnx.helper.tensor_dtype_to_np_dtype(ttype.elem_type)))
    return rows


def sample_inputs(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for every graph input: normal floats, or in-range ids for integer inputs."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, dims, dtype in graph_inputs(model):
        shape = [d if d > 0 else 1 for d in dims]
        if np.issubdtype(dtype, np.integer):
            feeds[name] = rng.integers(0, 1000, shape).astype(dtype)
        else:
            feeds[name] = rng.standard_normal(shape).astype(dtype)
    return feeds
