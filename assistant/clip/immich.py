"""Immich's ONNX export of OpenCLIP models (``huggingface.co/immich-app/<arch>__<pretrained>``), read as a
`ClipConfig` so labels, the image library and search run it like a model made by ``import-clip``.

The layout, as immich-app/ml-models' exporter writes it and Immich's machine-learning service reads it
(``immich_ml/models/clip/visual.py`` and ``textual.py``)::

    config.json                      OpenCLIP's model config: embed_dim, vision_cfg.image_size,
                                     text_cfg.context_length (77 when absent), optionally
                                     text_cfg.hf_tokenizer_name and text_cfg.tokenizer_kwargs.clean
    visual/model.onnx                image tower, encode_image(normalize=True): input "image" float32
                                     [1, 3, H, W] of normalised pixels (the exporter fixes batch 1);
                                     newer exports take uint8 RGB [batch, H, W, 3] and normalise inside
    visual/preprocess_cfg.json       OpenCLIP's preprocess config: size, mean, std, interpolation,
                                     resize_mode ("shortest" when absent, or "squash"), mode, fill_color
    textual/model.onnx               text tower, encode_text(normalize=True): input "text" int32
                                     [1 or batch, context_length]
    textual/tokenizer.json           the Hugging Face tokenizer transformers saved for the model
    textual/tokenizer_config.json    its pad_token: Immich pads every text to context_length with it
                                     (CLIP's is <|endoftext|>) and truncates to context_length
    textual/special_tokens_map.json  read for the pad token when tokenizer_config.json lacks it

Where Immich itself approximates OpenCLIP, the app keeps OpenCLIP's own behaviour, which is what the
weights were trained with: images get OpenCLIP's exact resize and centre crop (`preprocess.py`; Immich
truncates the crop offset where torchvision rounds), and text gets OpenCLIP's ftfy-style cleaning before
the tokenizer's own normaliser (Immich only collapses whitespace). The ids are then those of
``open_clip.tokenize`` apart from the padding id, which a causal text tower never looks at.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from assistant.protocols import ModelError

LAYOUT = "immich"
FILES = {"image": "visual/model.onnx", "text": "textual/model.onnx", "tokenizer": "textual/tokenizer.json"}
PREPROCESS = "visual/preprocess_cfg.json"
TOKENIZER_CONFIGS = ("textual/tokenizer_config.json", "textual/special_tokens_map.json")
AGAIN = ("download it again (`assistant models install NAME`, or Models ▸ Recommended) or import a "
         "checkpoint with `assistant models import-clip`")
_QUICK_DIGEST_BYTES = 1 << 20


def looks_like_immich(raw: object) -> bool:
    """An OpenCLIP model config (what Immich puts at the folder's top), not the app's own."""
    return isinstance(raw, dict) and "embed_dim" in raw and isinstance(raw.get("vision_cfg"), dict)


def read_immich(folder: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """The fields of the folder's `ClipConfig` (``layout`` "immich"); ModelError naming the file that is
    wrong. (`assistant.clip.folder.read_config` builds the config: one place knows its type.)"""
    for relative in (*FILES.values(), PREPROCESS):
        if not (folder / relative).is_file():
            raise ModelError(f"the CLIP model in {folder} is missing {relative} ({folder / relative}); "
                             f"{AGAIN}")
    pre = _json(folder / PREPROCESS)
    text_cfg = raw.get("text_cfg") if isinstance(raw.get("text_cfg"), dict) else {}
    try:
        embed_dim = int(raw["embed_dim"])
        size = _size(pre.get("size", raw["vision_cfg"].get("image_size")))
        mean, std = [float(v) for v in pre["mean"]], [float(v) for v in pre["std"]]
        context = int(text_cfg.get("context_length", 77))
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0 or embed_dim < 1 or context < 2:
            raise ValueError("mean and std need three numbers; embed_dim and context_length > 0")
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{folder / PREPROCESS} or {folder / 'config.json'} is damaged or incomplete "
                         f"({type(exc).__name__}: {exc}); {AGAIN}") from None
    interpolation = str(pre.get("interpolation", "bicubic")).lower()
    resize_mode = str(pre.get("resize_mode", "shortest"))
    if interpolation not in ("bicubic", "bilinear") or resize_mode not in ("shortest", "squash"):
        raise ModelError(f"{folder / PREPROCESS} asks for {interpolation} / {resize_mode} resizing, "
                         "which the app does not do (bicubic or bilinear; shortest side or squash)")
    kwargs = text_cfg.get("tokenizer_kwargs") if isinstance(text_cfg.get("tokenizer_kwargs"), dict) else {}
    clean = str(kwargs.get("clean") or ("whitespace" if text_cfg.get("hf_tokenizer_name") else "lower"))
    files = {role: {"path": relative, "size": (folder / relative).stat().st_size,
                    "sha256": _digest(folder / relative)} for role, relative in FILES.items()}
    return dict(
        name=folder.name, arch=folder.name.split('__')[0],
        embed_dim=embed_dim, image_size=size, mean=(mean[0], mean[1], mean[2]), std=(std[0], std[1], std[2]),
        interpolation=interpolation, resize_mode=resize_mode, context_length=context,
        text_clean=clean if clean in ("lower", "whitespace", "canonicalize") else "lower",
        logit_scale=100.0,  # not exported; OpenCLIP's learned scale is clamped at 100 for every model here
        files=files, image_precision="float32", layout=LAYOUT, pad_token=pad_token(folder))


def pad_token(folder: Path) -> str:
    """The token Immich pads with, from tokenizer_config.json (else special_tokens_map.json)."""
    for relative in TOKENIZER_CONFIGS:
        path = folder / relative
        if not path.is_file():
            continue
        value = _json(path).get("pad_token")
        if isinstance(value, dict):  # transformers sometimes saves {"content": "<|endoftext|>", ...}
            value = value.get("content")
        if isinstance(value, str) and value:
            return value
    raise ModelError(f"the CLIP model in {folder} has no tokenizer settings (textual/tokenizer_config.json "
                     f"with a pad_token); {AGAIN}")


def _size(value: object) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    raise ValueError(f"size {value!r} is neither N nor [H, W]")


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is damaged (not valid JSON: {exc}); {AGAIN}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is damaged (not a JSON object); {AGAIN}")
    return data


def _digest(path: Path) -> str:
    """Keys the caches of embeddings made with these weights: the sha256 the download checked (kept
    next to the file), else a digest of the size and the first and last MiB (cheap, and any re-export
    changes it)."""
    try:
        recorded = path.with_name(path.name + ".sha256").read_text(encoding="utf-8").split()[0].lower()
        if len(recorded) == 64:
            return recorded
    except (OSError, IndexError):
        pass
    hasher = hashlib.sha256()
    size = path.stat().st_size
    hasher.update(str(size).encode())
    with open(path, "rb") as handle:
        hasher.update(handle.read(_QUICK_DIGEST_BYTES))
        handle.seek(max(0, size - _QUICK_DIGEST_BYTES))
        hasher.update(handle.read(_QUICK_DIGEST_BYTES))
    return hasher.hexdigest()
