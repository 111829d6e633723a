"""Generated vision GGUF files: no vision model or projector can be downloaded on these machines.

``write_model`` writes a language-model header (a few KB) and ``write_projector`` a projector header
with the metadata and tensor names llama.cpp's clip.cpp reads, at toy sizes. ``write_tiny_llava``
writes a projector llama.cpp really loads and runs: a 2-layer CLIP ViT (32 px images, 16 px patches,
width 64) with random weights and an MLP projector to ``out_dim``; with SmolLM2 (width 576) it makes
a working, if meaningless, vision model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from assistant.models.gguf import ValueType
from assistant.models.gguf_writer import TensorData, Typed, write_gguf

F32, F16 = 0, 1


def write_model(path: Path, *, arch: str = "llama", width: int = 64, name: str | None = None,
                template: str | None = "{% for m in messages %}{{ m.content }}{% endfor %}<image>",
                extra: Mapping[str, Any] | None = None) -> Path:
    meta: dict[str, Any] = {"general.architecture": arch, "general.type": "model",
                            f"{arch}.embedding_length": width, f"{arch}.context_length": 4096}
    if name:
        meta["general.name"] = name
    if template:
        meta["tokenizer.chat_template"] = template
    meta.update(extra or {})
    return write_gguf(path, meta, [TensorData("token_embd.weight", (width, 8))])


def projector_tensors(ptype: str, out_dim: int, width: int = 64) -> list[TensorData]:
    """The tensors clip.cpp looks up for ``ptype``, shaped so the output size is ``out_dim``."""
    vit = [TensorData("v.patch_embd.weight", (16, 16, 3, width), F16),
           TensorData("v.position_embd.weight", (width, 5))]
    heads = {
        "mlp": [TensorData("mm.0.weight", (width, out_dim)), TensorData("mm.0.bias", (out_dim,)),
                TensorData("mm.2.weight", (out_dim, out_dim)), TensorData("mm.2.bias", (out_dim,))],
        "qwen2vl_merger": [TensorData("mm.0.weight", (width * 4, width * 4)),
                           TensorData("mm.2.weight", (width * 4, out_dim)),
                           TensorData("mm.2.bias", (out_dim,))],
        "gemma3": [TensorData("mm.input_projection.weight", (out_dim, width)),
                   TensorData("mm.soft_emb_norm.weight", (width,))],
        "resampler": [TensorData("resampler.proj.weight", (out_dim, out_dim))],
        "idefics3": [TensorData("mm.model.fc.weight", (width * 9, out_dim))],
    }
    return vit + heads.get(ptype, [])


def write_projector(path: Path, *, ptype: str | None = "mlp", out_dim: int = 64, name: str | None = None,
                    modern: bool = True, vision: bool = True, drop: Iterable[str] = (),
                    overrides: Mapping[str, Any] | None = None,
                    tensors: list[TensorData] | None = None) -> Path:
    """``modern``: general.type = mmproj and projection_dim = the text model's width (converters since
    2025); otherwise an old llava-surgery header with CLIP's own projection_dim (768)."""
    meta: dict[str, Any] = {"general.architecture": "clip"}
    if modern:
        meta["general.type"] = "mmproj"
    if name:
        meta["general.name"] = name
    meta.update({
        "clip.has_vision_encoder": vision, "clip.has_text_encoder": False,
        "clip.vision.image_size": 32, "clip.vision.patch_size": 16,
        "clip.vision.embedding_length": 64, "clip.vision.feed_forward_length": 128,
        "clip.vision.block_count": 1, "clip.vision.attention.head_count": 2,
        "clip.vision.projection_dim": out_dim if modern else 768,
        "clip.vision.attention.layer_norm_epsilon": 1e-6,
        "clip.vision.image_mean": [0.5, 0.5, 0.5], "clip.vision.image_std": [0.5, 0.5, 0.5],
        "clip.use_gelu": True,
    })
    if ptype:
        meta["clip.projector_type"] = ptype
    meta.update(overrides or {})
    for key in drop:
        meta.pop(key, None)
    chosen = projector_tensors(ptype or "mlp", out_dim) if tensors is None else tensors
    return write_gguf(path, meta, [t for t in chosen if t.name not in drop])


def write_tiny_llava(path: Path, out_dim: int = 576, seed: int = 0, name: str = "tiny llava") -> Path:
    """A projector llama.cpp loads and runs (random weights; see the module docstring)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    width, ff = 64, 128

    def t(name: str, shape: tuple[int, ...], kind: int = F32, scale: float = 0.02) -> TensorData:
        values = rng.normal(0.0, scale, size=tuple(reversed(shape)))  # numpy is row-major: ne0 last
        dtype = np.float16 if kind == F16 else np.float32
        return TensorData(name, shape, kind, values.astype(dtype).tobytes())

    def ones(name: str, n: int) -> TensorData:
        return TensorData(name, (n,), F32, np.ones(n, np.float32).tobytes())

    def zeros(name: str, n: int) -> TensorData:
        return TensorData(name, (n,), F32, np.zeros(n, np.float32).tobytes())

    tensors = [t("v.patch_embd.weight", (16, 16, 3, width), F16), t("v.class_embd", (width,)),
               t("v.position_embd.weight", (width, 5)), ones("v.pre_ln.weight", width),
               zeros("v.pre_ln.bias", width)]
    for il in range(2):
        p = f"v.blk.{il}"
        for part in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensors += [t(f"{p}.{part}.weight", (width, width)), zeros(f"{p}.{part}.bias", width)]
        tensors += [ones(f"{p}.ln1.weight", width), zeros(f"{p}.ln1.bias", width),
                    ones(f"{p}.ln2.weight", width), zeros(f"{p}.ln2.bias", width),
                    t(f"{p}.ffn_up.weight", (width, ff)), zeros(f"{p}.ffn_up.bias", ff),
                    t(f"{p}.ffn_down.weight", (ff, width)), zeros(f"{p}.ffn_down.bias", width)]
    tensors += [t("mm.0.weight", (width, out_dim)), zeros("mm.0.bias", out_dim),
                t("mm.2.weight", (out_dim, out_dim)), zeros("mm.2.bias", out_dim)]
    return write_projector(path, ptype="mlp", out_dim=out_dim, name=name,
                           overrides={"clip.vision.block_count": 2}, tensors=tensors)


def int32_list(values: list[int]) -> Typed:
    return Typed(ValueType.INT32, values)
