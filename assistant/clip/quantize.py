"""The int8 image tower of `assistant models import-clip` (the default; `--float32` skips it).

Sixteen images through a ViT image tower are mostly float32 matrix products that onnxruntime and torch
both hand to the same kind of optimised GEMM, so float32 ONNX cannot be much faster than torch on a
batch; int8 matrix products can (README, performance). They change the embeddings slightly, so the
quantized tower is compared with torch on the export's sample images and kept only when it stays
within `INT8_MIN_COSINE`; otherwise the exact float32 tower stays (the import does not fail).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from assistant.clip.import_log import Report, quiet_root_log

INT8_MIN_COSINE = 0.99  # an int8 image tower must point where the float one points


def keep_int8_if_close(torch: Any, tower: Any, path: Path, pixels: Any, report: Report) -> bool:
    """Replaces the float32 image tower at `path` by its int8 version when that stays within
    `INT8_MIN_COSINE` of torch; otherwise keeps float32 (an architecture that quantizes badly still
    imports, only slower). Returns whether int8 was kept."""
    report("quantizing the image tower to int8")
    quantized = _quantize_image_tower(path)
    cosine = _int8_cosine(torch, tower, quantized, pixels)
    if cosine < INT8_MIN_COSINE:
        quantized.unlink()
        report(f"int8 image embeddings stray too far from torch's (cosine {cosine:.3f} < "
               f"{INT8_MIN_COSINE}): keeping the float32 image tower")
        return False
    os.replace(quantized, path)
    report(f"int8 image embeddings: cosine to torch's at least {cosine:.4f}")
    return True


def _quantize_image_tower(path: Path) -> Path:
    """int8 weights (per channel) for the image tower's matrix products, activations quantized on the fly.

    The image tower does the heavy work (every shared image); int8 matrix products are ~1.6x faster than
    float32 on an AVX2 CPU at batch 16. ``reduce_range`` keeps products of 7-bit weights from
    saturating the 16-bit sums of AVX2 CPUs without VNNI, which cost accuracy otherwise. Written next to
    `path`: the caller keeps it only when its embeddings stay close to torch's.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_name(f"{path.stem}.int8{path.suffix}")
    with quiet_root_log("Please consider to run pre-processing"):  # static quantization advice
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True, op_types_to_quantize=["MatMul", "Gemm"])
    return quantized


def _int8_cosine(torch: Any, tower: Any, path: Path, pixels: Any) -> float:
    """Lowest cosine between torch's float embeddings and the int8 tower's, over the sample images."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = tower(pixels).numpy()
    got = session.run(None, {"pixel_values": pixels.numpy()})[0]
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    return float((expected * got).sum(axis=1).min())
