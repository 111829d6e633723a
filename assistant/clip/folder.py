"""Where CLIP model folders live and what their ``config.json`` must say (layout: ``assistant.clip``;
Immich's ONNX export is read too: ``assistant.clip.immich``).

Only the standard library here, so listing and checking models costs nothing: a missing or damaged
file is reported as a `ModelError` that names the file and says to import the model again, before
onnxruntime ever sees it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.clip.immich import looks_like_immich, read_immich
from assistant.protocols import ModelError
from assistant.settings import user_models_dir

log = logging.getLogger(__name__)

FORMAT = "assistant-clip"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
FILE_ROLES = ("image", "text", "tokenizer")
TEXT_CLEANS = ("lower", "whitespace", "canonicalize")
REIMPORT = "import it again with `assistant models import-clip ARCH CHECKPOINT`"


@dataclass(frozen=True)
class ClipConfig:
    name: str
    arch: str
    folder: Path
    embed_dim: int
    image_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    resize_mode: str
    context_length: int
    text_clean: str
    logit_scale: float
    files: dict[str, dict[str, Any]]
    image_precision: str = "float32"  # "int8": quantized image tower (import-clip --int8)
    layout: str = FORMAT  # or "immich": Immich's export (towers' own input names, HF tokenizer files)
    pad_token: str | None = None  # immich: texts are padded with this token (else with id 0)

    def path(self, role: str) -> Path:
        return self.folder / str(self.files[role]["path"])

    @property
    def fingerprint(self) -> str:
        """Changes whenever the weights change: keys caches of embeddings made with this model."""
        digests = "".join(str(self.files[r].get("sha256", ""))[:16] for r in ("image", "text"))
        return f"{self.name}-{digests[:12]}" if digests else self.name


def clip_models_dir(data_dir: Path) -> Path:
    return user_models_dir(data_dir) / "clip"


def installed_models(data_dir: Path) -> list[Path]:
    """Folders under the CLIP models dir that have a config.json (not checked further)."""
    root = clip_models_dir(data_dir)
    try:
        return sorted(p for p in root.iterdir() if (p / CONFIG_NAME).is_file())
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("cannot list %s: %s", root, exc)
        return []


def find_model(name: str | None, data_dir: Path) -> Path:
    """The folder of CLIP model ``name`` (a model name or a folder path); None: the only/first one."""
    if name and ("/" in name or "\\" in name or Path(name).is_dir()):
        return Path(name).expanduser()
    models = installed_models(data_dir)
    if name is None:
        if not models:
            raise ModelError(
                f"no CLIP model is installed (looked in {clip_models_dir(data_dir)}); "
                "add one with `assistant models import-clip ARCH CHECKPOINT`")
        return models[0]
    for folder in models:
        if folder.name == name:
            return folder
    have = ", ".join(p.name for p in models) or "none"
    raise ModelError(f"unknown CLIP model {name!r}; installed: {have}")


def read_config(folder: Path) -> ClipConfig:
    """The folder's config, checked field by field; every model file must exist with its recorded size."""
    path = folder / CONFIG_NAME
    if not folder.is_dir():
        raise ModelError(f"the CLIP model folder {folder} does not exist; {REIMPORT}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"the CLIP model in {folder} has no {CONFIG_NAME}; {REIMPORT}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is damaged (not valid JSON: {exc}); {REIMPORT}") from None
    if looks_like_immich(raw):
        return ClipConfig(folder=folder, **read_immich(folder, raw))
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelError(f"{path} is neither an assistant CLIP model config nor Immich's; {REIMPORT}")
    if int(raw.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(f"{path} was written by a newer version of the assistant; update the assistant")
    try:
        config = _parse(raw, folder)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            f"{path} is damaged or incomplete ({type(exc).__name__}: {exc}); {REIMPORT}") from None
    for role in FILE_ROLES:
        _check_file(config, role)
    return config


def _parse(raw: dict[str, Any], folder: Path) -> ClipConfig:
    size = [int(v) for v in raw["image_size"]]
    mean, std = [float(v) for v in raw["mean"]], [float(v) for v in raw["std"]]
    if len(size) != 2 or min(size) < 1 or len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError("image_size must be [H, W]; mean and std three numbers each")
    files = raw["files"]
    if not isinstance(files, dict) or any(not isinstance(files.get(r), dict) for r in FILE_ROLES):
        raise ValueError(f"files must describe {', '.join(FILE_ROLES)}")
    for role in FILE_ROLES:
        name = str(files[role]["path"])
        if Path(name).name != name:  # a config must not point outside its own folder
            raise ValueError(f"file {name!r} is not a plain file name")
    config = ClipConfig(
        name=str(raw.get("name") or folder.name), arch=str(raw.get("arch", "?")), folder=folder,
        embed_dim=int(raw["embed_dim"]), image_size=(size[0], size[1]),
        mean=(mean[0], mean[1], mean[2]), std=(std[0], std[1], std[2]),
        interpolation=str(raw.get("interpolation", "bicubic")),
        resize_mode=str(raw.get("resize_mode", "shortest")),
        context_length=int(raw["context_length"]), text_clean=str(raw.get("text_clean", "lower")),
        logit_scale=float(raw.get("logit_scale", 100.0)), files=files,
        image_precision=str(raw.get("image_precision", "float32")))
    if config.interpolation not in ("bicubic", "bilinear"):
        raise ValueError(f"interpolation {config.interpolation!r}")
    if config.resize_mode not in ("shortest", "squash"):
        raise ValueError(f"resize_mode {config.resize_mode!r}")
    if config.text_clean not in TEXT_CLEANS:
        raise ValueError(f"text_clean {config.text_clean!r}")
    if config.embed_dim < 1 or config.context_length < 2:
        raise ValueError("embed_dim and context_length must be positive")
    return config


def _check_file(config: ClipConfig, role: str) -> None:
    path = config.path(role)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelError(
            f"the CLIP model {config.name!r} is missing {path.name} ({path}); {REIMPORT}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    expected = config.files[role].get("size")
    if expected is not None and int(expected) != size:
        raise ModelError(
            f"{path} is damaged: {size:,} bytes where {int(expected):,} were written (a partial copy?); "
            f"{REIMPORT}")


def format_clip_models(data_dir: Path) -> str:
    """Lines for `assistant models`: each installed CLIP model and whether it can be used ("" if none)."""
    lines = []
    for folder in installed_models(data_dir):
        try:
            config = read_config(folder)
        except ModelError as exc:
            lines.append(f"  {folder.name}: damaged: {exc}")
            continue
        precision = ", int8 image tower" if config.image_precision == "int8" else ""
        precision += ", Immich's ONNX export" if config.layout != FORMAT else ""
        lines.append(f"  {config.name}: ready ({config.arch}, {config.embed_dim}-d embeddings{precision})")
    if not lines:
        return ""
    return "\n".join([f"CLIP models in {clip_models_dir(data_dir)} (image labels and search):", *lines])
