"""`assistant models import-clip ARCH CHECKPOINT`: an OpenCLIP checkpoint → the app's ONNX CLIP folder.

Needs the optional ``clip-import`` extra (torch, torchvision, open-clip-torch, onnx); the app itself runs
the result with onnxruntime only (layout: ``assistant.clip``). It lives outside ``assistant/engines/``
on purpose: it is a converter the user runs once, not a runtime engine; only `models import-clip`
imports it.

Weights are loaded without running code: ``.safetensors`` files with safetensors, anything else with
``torch.load(weights_only=True)``, whose restricted unpickler refuses every object that is not a tensor
or a plain container. A checkpoint that tries to run code is refused, not "loaded carefully".

The folder is written next to its final place and renamed into it when complete, and each tower is
checked against torch on the same inputs before that, so a half-written or wrongly exported model
never appears in the models folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from assistant.clip.folder import CONFIG_NAME, FORMAT, FORMAT_VERSION, clip_models_dir
from assistant.clip.import_log import Report, quiet_root_log
from assistant.protocols import ModelError

log = logging.getLogger(__name__)

OPSET = 17  # LayerNormalization is one node from 17 on; onnxruntime >= 1.14 runs it
PARITY_LIMIT = 1e-3  # max |torch - onnxruntime| on unnormalised embeddings before the import is refused


def _require_torch() -> tuple[Any, Any]:
    try:
        import open_clip
        import torch
    except ImportError as exc:
        raise ModelError(
            f"importing a CLIP checkpoint needs torch and open-clip-torch ({exc.name} is not installed); "
            "install them with: pip install -e '.[clip-import]'") from None
    return torch, open_clip


# --- reading weights --------------------------------------------------------------------------------

def load_weights(path: Path) -> dict[str, Any]:
    """The checkpoint's tensors by name; ModelError when it cannot be read or is not plain data."""
    torch, _ = _require_torch()
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{path} is not a readable safetensors file ({exc})") from None
    if _is_torchscript(path):
        raise ModelError(f"{path} is a TorchScript archive (compiled code), which is not loaded; "
                         "use the checkpoint's state dict as .safetensors or a plain .pt/.bin")
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower() or "unsupported global" in str(exc).lower():
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            what = f" ({found.group(1)})" if found else ""
            raise ModelError(
                f"refused to load {path}: it contains Python objects{what}, not only tensors, and "
                "loading them could run code. Convert it to .safetensors from a trusted source") from None
        raise ModelError(f"{path} is not a PyTorch checkpoint ({exc})") from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable PyTorch checkpoint ({exc})") from None
    return _state_dict(data, path)


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/code/") or "/code/__torch__" in name for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _state_dict(data: Any, path: Path) -> dict[str, Any]:
    """A training checkpoint keeps the weights under 'state_dict' (or 'model'), often 'module.'-prefixed."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not data:
        raise ModelError(f"{path} holds no state dict of tensors")
    if all(str(k).startswith("module.") for k in data):
        data = {str(k)[len("module."):]: v for k, v in data.items()}
    return data


# --- building the model -----------------------------------------------------------------------------

def resolve_arch(arch: str) -> str:
    """An OpenCLIP model name; a path to a model-config .json is registered under its file stem."""
    _, open_clip = _require_torch()
    path = Path(arch).expanduser()
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise ModelError(f"model config {path} does not exist")
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read model config {path}: {exc}") from None
        if not isinstance(config, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= config.keys():
            raise ModelError(f"{path} is not an OpenCLIP model config (embed_dim, vision_cfg, text_cfg)")
        open_clip.add_model_config(path)
        return path.stem
    if arch not in open_clip.list_models():
        raise ModelError(f"unknown OpenCLIP architecture {arch!r}; a name such as ViT-B-32 "
                         "(see open_clip.list_models()) or a path to a model config .json")
    return arch


def _text_settings(open_clip: Any, name: str) -> dict[str, Any]:
    text_cfg = (open_clip.get_model_config(name) or {}).get("text_cfg", {})
    if text_cfg.get("hf_tokenizer_name") or "siglip" in name.lower():
        raise ModelError(f"{name} uses a Hugging Face tokenizer, which import-clip does not convert yet; "
                         "only models with CLIP's own BPE tokenizer are supported")
    kwargs = text_cfg.get("tokenizer_kwargs", {})
    if kwargs.get("reduction_mask"):
        raise ModelError(f"{name} tokenizes with a reduction mask, which is not supported")
    return {"clean": kwargs.get("clean", "lower")}


def build_model(name: str, weights: dict[str, Any]) -> Any:
    _, open_clip = _require_torch()
    with quiet_root_log("No pretrained weights loaded"):  # we load them ourselves, right below
        model = open_clip.create_model(name, pretrained=None, device="cpu")
    try:
        result = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # same names, other shapes: a checkpoint of another size of model
        lines = [line.strip() for line in str(exc).splitlines() if "size mismatch" in line]
        detail = "; ".join(lines[:3]) + (f" and {len(lines) - 3} more" if len(lines) > 3 else "")
        raise ModelError(f"the checkpoint does not fit architecture {name}: {detail or exc}") from None
    missing = [k for k in result.missing_keys if k != "attn_mask"]
    if missing or result.unexpected_keys:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        detail = "; ".join(part for part in (
            f"missing {few(missing)}" if missing else "",
            f"unexpected {few(result.unexpected_keys)}" if result.unexpected_keys else "") if part)
        raise ModelError(f"the checkpoint does not fit architecture {name}: {detail}")
    return model.eval()


# --- export -----------------------------------------------------------------------------------------

def _export(torch: Any, module: Any, example: Any, path: Path, input_name: str, output_name: str) -> None:
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of dynamo, but its graphs run faster
        # on onnxruntime's CPU provider (measured for ViT-B-32) and it exports in a fraction of the time.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), str(path), input_names=[input_name], output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=OPSET, do_constant_folding=True, dynamo=False)


def _towers(torch: Any, model: Any) -> tuple[Any, Any]:
    class ImageTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values: Any) -> Any:
            return self.model.encode_image(pixel_values)

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any) -> Any:
            return self.model.encode_text(input_ids)

    return ImageTower().eval(), TextTower().eval()


def _check_parity(torch: Any, towers: tuple[Any, Any], folder: Path, pixels: Any, ids: Any
                  ) -> tuple[float, int]:
    """(largest |torch - onnxruntime| over both towers on the same inputs, embedding size)."""
    import onnxruntime as ort

    worst, dims = 0.0, set()
    for tower, file, feed in ((towers[0], "image.onnx", pixels), (towers[1], "text.onnx", ids)):
        session = ort.InferenceSession(str(folder / file), providers=["CPUExecutionProvider"])
        with torch.inference_mode():
            expected = tower(feed).numpy()
        got = session.run(None, {session.get_inputs()[0].name: feed.numpy()})[0]
        worst = max(worst, float(abs(expected - got).max()))
        dims.add(int(got.shape[-1]))
    if len(dims) != 1:
        raise ModelError(f"the image and text towers give embeddings of different sizes {sorted(dims)}")
    return worst, dims.pop()


def _file_entry(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": path.name, "size": path.stat().st_size, "sha256": digest.hexdigest()}


def _config(name: str, arch: str, model: Any, embed_dim: int, clean: str, checkpoint: Path,
            files: dict[str, dict[str, Any]], versions: dict[str, str]) -> dict[str, Any]:
    pre = model.visual.preprocess_cfg
    size = pre["size"] if isinstance(pre["size"], list | tuple) else (pre["size"], pre["size"])
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "arch": arch,
        "embed_dim": embed_dim, "image_size": [int(size[0]), int(size[1])],
        "mean": [float(v) for v in pre["mean"]], "std": [float(v) for v in pre["std"]],
        "interpolation": pre.get("interpolation", "bicubic"),
        "resize_mode": pre.get("resize_mode", "shortest"),
        "context_length": int(model.context_length), "text_clean": clean,
        "logit_scale": float(model.logit_scale.exp().item()), "files": files,
        "source": {"checkpoint": checkpoint.name, **versions},
    }


def _check_preprocess(model: Any, name: str) -> None:
    pre = model.visual.preprocess_cfg
    size = pre["size"] if isinstance(pre["size"], list | tuple) else (pre["size"], pre["size"])
    if size[0] != size[1] and pre.get("resize_mode", "shortest") != "squash":
        raise ModelError(f"{name} has a non-square input {size}, which is not supported")
    if pre.get("resize_mode", "shortest") not in ("shortest", "squash"):
        raise ModelError(f"{name} uses resize mode {pre.get('resize_mode')!r}, which is not supported")


def import_clip(arch: str, checkpoint: Path, models_dir: Path, name: str | None = None, *,
                force: bool = False, int8: bool = False, report: Report = log.info) -> Path:
    """Converts `checkpoint` (weights for OpenCLIP `arch`) into ``models_dir/<name>``; returns the folder.

    `int8`: the image tower's matrix products get int8 weights (faster, embeddings within a cosine of
    `clip_quantize.INT8_MIN_COSINE` of torch's instead of equal to 1e-4); the text tower stays float32.
    """
    checkpoint = Path(checkpoint).expanduser()
    name = name or checkpoint.stem
    if not re.fullmatch(r"[\w][\w.+-]*", name):
        raise ModelError(f"{name!r} is not a usable model name (letters, digits, '.', '_', '+', '-')")
    target = models_dir / name
    if target.exists() and not force:  # checked before torch loads: that alone takes seconds
        raise ModelError(f"a CLIP model named {name!r} already exists ({target}); "
                         "choose another --name or pass --force to replace it")
    torch, open_clip = _require_torch()
    from assistant.clip.tokenizer_json import build_tokenizer_json

    model_name = resolve_arch(arch)
    clean = _text_settings(open_clip, model_name)["clean"]
    report(f"reading {checkpoint}")
    weights = load_weights(checkpoint)
    model = build_model(model_name, weights)
    _check_preprocess(model, model_name)
    if model.vocab_size < 49408:
        raise ModelError(f"{model_name} has a text vocabulary of {model.vocab_size}, smaller than CLIP's "
                         "BPE (49408): its tokenizer is not CLIP's")

    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=models_dir))
    try:
        towers = _towers(torch, model)
        size = model.visual.preprocess_cfg["size"]
        height, width = (size, size) if isinstance(size, int) else size
        generator = torch.Generator().manual_seed(0)
        pixels = torch.randn(2, 3, height, width, generator=generator)
        ids = torch.randint(1, 49406, (2, model.context_length), generator=generator)
        ids[:, 0], ids[:, -1] = 49406, 49407
        report(f"exporting the image tower ({model_name}, {height}x{width})")
        _export(torch, towers[0], pixels, staging / "image.onnx", "pixel_values", "image_embeds")
        report("exporting the text tower")
        _export(torch, towers[1], ids, staging / "text.onnx", "input_ids", "text_embeds")
        from open_clip.tokenizer import default_bpe

        (staging / "tokenizer.json").write_text(
            build_tokenizer_json(Path(default_bpe()), lower=clean == "lower"), encoding="utf-8")
        worst, embed_dim = _check_parity(torch, towers, staging, pixels, ids)
        report(f"onnxruntime matches torch within {worst:.1e}")
        if worst > PARITY_LIMIT:
            raise ModelError(f"the exported model differs from torch by {worst:.2e} (limit {PARITY_LIMIT}); "
                             "this architecture does not export correctly")
        if int8:
            from assistant.clip.quantize import keep_int8_if_close  # onnxruntime.quantization: only here

            int8 = keep_int8_if_close(torch, towers[0], staging / "image.onnx", pixels, report)
        files = {role: _file_entry(staging / f"{role}.{ext}")
                 for role, ext in (("image", "onnx"), ("text", "onnx"), ("tokenizer", "json"))}
        versions = {"torch": torch.__version__, "open_clip": open_clip.__version__,
                    "checkpoint_sha256": _file_entry(checkpoint)["sha256"]}
        config = _config(name, model_name, model, embed_dim, clean, checkpoint, files, versions)
        config["image_precision"] = "int8" if int8 else "float32"
        (staging / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        _replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(f"installed CLIP model {name!r} in {target}")
    return target


def _replace_folder(staging: Path, target: Path) -> None:
    """Renames the finished folder into place; an old one is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def import_clip_command(arch: str, checkpoint: str, name: str | None, force: bool, int8: bool = True) -> int:
    """The CLI's entry: progress and errors on stderr, exit 0 / 1."""
    import sys

    from assistant import settings

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        import_clip(arch, Path(checkpoint), clip_models_dir(settings.data_dir()), name,
                    force=force, int8=int8, report=report)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
