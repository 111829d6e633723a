"""The core must import without Qt or any ML library (ARCHITECTURE.md, principle 1)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import assistant

CORE_MODULES = [
    "assistant.cli.main",
    "assistant.cli.ask",
    "assistant.cli.selftest",
    "assistant.settings",
    "assistant.models.remote_server",
    "assistant.chat.conversation",
    "assistant.chat.prompts",
    "assistant.protocols",
    "assistant.history.store",
    "assistant.history.export",
    "assistant.models.catalog",
    "assistant.models.assembly",
    "assistant.models.gguf",
    "assistant.chat.session",
    "assistant.chat.markdown_render",
    "assistant.host.messages",
    "assistant.host.client",
    "assistant.cli.transcribe",
    "assistant.audio.errors",
    "assistant.voice.speech_text",
    "assistant.chat.attachments",
    "assistant.chat.grounding",
    "assistant.chat.grounding_job",
    "assistant.images.safe_image",
    "assistant.cli.describe",
    "assistant.chat.image_question",
    "assistant.images.kept",
    # The window process imports the engine host to start it: perception must load OCR lazily.
    "assistant.host.process",
    "assistant.host.perception",
    "assistant.host.benchmark",  # the first run's engine side: llama.cpp loads only inside a request
    "assistant.models.hardware",
    "assistant.models.fit",
    # The window and `ask` record shared images through it: numpy loads only when one is recorded.
    "assistant.library.shared",
]
# cv2 (pulled in by rapidocr) also re-points Qt's plugin path when imported: engine process only.
FORBIDDEN = [
    "PySide6", "llama_cpp", "torch", "onnxruntime", "faster_whisper", "open_clip",
    "cv2", "rapidocr_onnxruntime",
]


def test_core_imports_no_gui_or_ml_library() -> None:
    code = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {CORE_MODULES!r}:
            importlib.import_module(name)
        print(",".join(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"core pulled in: {result.stdout.strip()}"


@pytest.mark.parametrize("library", ["PySide6", "llama_cpp"])
def test_library_is_imported_only_in_its_layer(library: str) -> None:
    """A plain text scan, so a lazy import inside a function is caught too."""
    allowed = {"PySide6": "ui", "llama_cpp": "engines"}[library]
    package = Path(assistant.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.relative_to(package).parts[0] != allowed
        and any(
            line.strip().startswith((f"import {library}", f"from {library}"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]
    # The benchmark compares the app against raw llama-cpp-python on purpose.
    offenders = [o for o in offenders if not o.startswith("bench/")]
    assert offenders == []
