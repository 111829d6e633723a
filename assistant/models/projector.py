"""What a GGUF header says about vision: is it a projector (mmproj), is it one llama.cpp can load
safely, and what embedding size does it produce.

A projector is recognised by its metadata (``general.type = "mmproj"``, ``general.architecture =
"clip"`` or ``clip.*`` keys), never by its file name alone: users rename files, and some projectors
are called ``model-f16.gguf``. The checks below exist because llama.cpp's projector loader (clip.cpp in
libmtmd) *aborts the process* on some malformed files rather than returning an error: a key of the
wrong type trips an assertion in gguf_get_val_u32, a short image_mean array is read past its end, and
an MLP projector without ``mm.2.weight`` is dereferenced as a null pointer when its output size is
asked for. The engine process would survive as a crash, but the user would learn nothing; here the
file gets a sentence instead. Pure Python, no llama_cpp import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assistant.models.gguf import GGUFHeader, MetadataField, ValueType

# Keys clip.cpp reads with get_u32 (required): present and UINT32, or llama.cpp asserts.
_VISION_U32_KEYS = ("clip.vision.image_size", "clip.vision.patch_size", "clip.vision.embedding_length",
                    "clip.vision.feed_forward_length", "clip.vision.block_count",
                    "clip.vision.attention.head_count", "clip.vision.projection_dim")
_VISION_F32_KEYS = ("clip.vision.attention.layer_norm_epsilon",)
_VISION_MEAN_STD = ("clip.vision.image_mean", "clip.vision.image_std")
_LLAVA_FAMILY = ("mlp", "mlp_norm", "ldp", "ldpv2")

# Where the projector's output size lives, per projector type: (tensor, axis), mirroring
# clip_n_mmproj_embd() in llama.cpp's clip.cpp. GGUF shapes are ne0-first, as ggml sees them.
_OUTPUT_DIM: dict[str, tuple[str, int]] = {
    "mlp": ("mm.2.weight", 1), "mlp_norm": ("mm.3.bias", 0),
    "ldp": ("mm.model.mb_block.1.block.2.1.bias", 0), "ldpv2": ("mm.model.peg.0.bias", 0),
    "resampler": ("resampler.proj.weight", 0),
    "qwen2vl_merger": ("mm.2.bias", 0), "qwen2.5vl_merger": ("mm.2.bias", 0),
    "janus_pro": ("mm.1.bias", 0), "gemma3": ("mm.input_projection.weight", 0),
    "idefics3": ("mm.model.fc.weight", 1), "llama4": ("mm.model.fc.weight", 1),
    "internvl": ("mm.model.mlp.3.weight", 1), "glm4v": ("mm.down.weight", 1),
    "pixtral": ("mm.2.weight", 1), "lightonocr": ("mm.2.weight", 1), "lfm2": ("mm.2.weight", 1),
    "kimivl": ("mm.2.weight", 1),
}

# Language-model architectures that only ever pair with one projector family (a Qwen2-VL text
# model cannot use a LLaVA projector even when the sizes agree).
ARCH_PROJECTORS: dict[str, frozenset[str]] = {
    "qwen2vl": frozenset({"qwen2vl_merger", "qwen2.5vl_merger"}),
    "qwen3vl": frozenset({"qwen3vl_merger"}), "qwen3vlmoe": frozenset({"qwen3vl_merger"}),
    "gemma3": frozenset({"gemma3"}), "llama4": frozenset({"llama4"}),
}
PROJECTOR_ARCHS: dict[str, frozenset[str]] = {}
for _arch, _types in ARCH_PROJECTORS.items():
    for _t in _types:
        PROJECTOR_ARCHS[_t] = PROJECTOR_ARCHS.get(_t, frozenset()) | {_arch}

ADVICE = ("Download the mmproj file again from the page the model came from (it is usually named "
          "mmproj-<model>-f16.gguf).")


@dataclass(frozen=True)
class ProjectorFacts:
    """A projector's header, boiled down to what pairing and loading need."""

    path: Path
    projector_type: str  # clip.projector_type ("mlp" when absent, as llama.cpp assumes)
    output_dim: int | None  # the embedding size it produces: must equal the language model's
    has_vision: bool
    name: str | None  # general.name, which new converters copy from the language model
    basename: str | None
    size_label: str | None
    problem: str | None  # why llama.cpp must not be given this file; None when it is sound
    grid_pinpoints: bool  # LLaVA 1.6 ("anyres") tiling


def is_projector(header: GGUFHeader) -> bool:
    kind = header.get("general.type")
    arch = header.get("general.architecture")
    return kind == "mmproj" or arch == "clip" or any(f.key.startswith("clip.") for f in header.fields)


# Byte patterns only a projector's metadata contains; see looks_like_projector_file().
_PROJECTOR_MARKS = (b"clip.has_vision_encoder", b"clip.projector_type", b"clip.vision.image_size",
                    b"general.architecture\x08\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00clip",
                    b"general.type\x08\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00mmproj")
_PEEK_BYTES = 64 * 1024


def looks_like_projector_file(path: Path) -> bool:
    """Cheap test for the model list: a projector's metadata sits in its first few KB, while a
    full header read of a language model skips ~150k vocabulary strings (~30 ms)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_PEEK_BYTES)
    except OSError:
        return False
    return head[:4] == b"GGUF" and any(mark in head for mark in _PROJECTOR_MARKS)


def _field(header: GGUFHeader, key: str) -> MetadataField | None:
    return next((f for f in header.fields if f.key == key), None)


def _str(header: GGUFHeader, key: str) -> str | None:
    value = header.get(key)
    return value if isinstance(value, str) and value.strip() else None


def projector_type(header: GGUFHeader) -> str:
    return (_str(header, "clip.projector_type") or _str(header, "clip.vision.projector_type")
            or "mlp").lower()


def _problem(header: GGUFHeader, ptype: str) -> str | None:
    """The first thing that would make llama.cpp fail or abort on this projector, in words."""
    if header.get("clip.has_vision_encoder") is not True:
        if header.get("clip.has_audio_encoder") is True:
            return "it is an audio projector (no vision encoder), so it cannot read images"
        return "its metadata does not declare a vision encoder (clip.has_vision_encoder)"
    for key in _VISION_U32_KEYS + _VISION_F32_KEYS:
        f = _field(header, key)
        want = ValueType.FLOAT32 if key in _VISION_F32_KEYS else ValueType.UINT32
        if f is None:
            return f"it lacks the metadata key {key}"
        if f.type != want:
            return f"its metadata key {key} is a {f.type.name.lower()}, not a {want.name.lower()}"
    for key in _VISION_MEAN_STD:
        f = _field(header, key)
        if f is None or f.type != ValueType.ARRAY or f.array_type != ValueType.FLOAT32 or (f.count or 0) < 3:
            return f"its metadata key {key} is missing or is not a list of three numbers"
    for key in ("clip.vision.image_size", "clip.vision.patch_size", "clip.vision.embedding_length",
                "clip.vision.attention.head_count"):
        if not header.get(key):
            return f"its metadata key {key} is 0"
    names = {t.name for t in header.tensors}
    if ptype in _LLAVA_FAMILY:
        # clip.cpp treats these as optional when loading, then dereferences them.
        required = ["v.patch_embd.weight", "v.position_embd.weight"]
        if ptype == "mlp" and "mm.3.weight" not in names:
            required += ["mm.0.weight", "mm.2.weight"]
        missing = [n for n in required if n not in names]
        if missing:
            return f"it lacks the tensor {missing[0]} that a {ptype} projector needs"
    return None


def output_dim(header: GGUFHeader, ptype: str) -> int | None:
    """The embedding size this projector hands to the language model, where it can be known."""
    if ptype == "mlp" and any(t.name == "mm.3.weight" for t in header.tensors):
        ptype = "mlp_norm"  # llama.cpp's own rule: a fourth layer means the Yi-style MLP
    where = _OUTPUT_DIM.get(ptype)
    if where is not None:
        tensor = next((t for t in header.tensors if t.name == where[0]), None)
        if tensor is not None and len(tensor.shape) > where[1]:
            return int(tensor.shape[where[1]])
    # Converters since mid-2025 (general.type = mmproj) store the text model's width here; older
    # ones stored CLIP's own projection width (768 for LLaVA 1.5), so it means nothing without it.
    dim = header.get("clip.vision.projection_dim")
    if header.get("general.type") == "mmproj" and isinstance(dim, int) and dim > 0:
        return dim
    return None


def projector_facts(header: GGUFHeader) -> ProjectorFacts:
    ptype = projector_type(header)
    pins = header.get("clip.vision.image_grid_pinpoints")
    return ProjectorFacts(
        path=header.path, projector_type=ptype, output_dim=output_dim(header, ptype),
        has_vision=header.get("clip.has_vision_encoder") is True, name=_str(header, "general.name"),
        basename=_str(header, "general.basename"), size_label=_str(header, "general.size_label"),
        problem=_problem(header, ptype), grid_pinpoints=pins is not None)
