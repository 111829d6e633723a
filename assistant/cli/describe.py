"""`assistant describe IMAGE`: print the text in an image (OCR) and, with a CLIP model, its top labels.

The image is read in the engine process, by the same `PerceiveRequest` the window and `ask --image`
send (a hostile file never touches this process's libraries), except that nothing is kept: describe
only looks. The text goes to stdout so `assistant describe shot.png > shot.txt` stays clean; what the
image is and how long reading took go to stderr; `--json` prints everything, boxes included, as one
JSON object. The read's confidence is in the summary (and `confidence` in JSON); a poor read says so.
A bad image exits with 1 and the engine's message.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from assistant import settings
from assistant.host.client import EngineClient
from assistant.host.messages import Done, Failed, ImagePerceived, PerceiveRequest, result_of
from assistant.prompt.image_question import format_labels, poor_read

logger = logging.getLogger(__name__)


def describe_command(path: str, *, as_json: bool = False, label: str | None = None) -> int:
    """Exit code 0 when the image was read (with or without text in it), 1 on an error. `label`
    names the image in the output instead of its path (`--screen`: "screen")."""
    data_dir = settings.data_dir()
    found: ImagePerceived | None = None
    with EngineClient() as engine:
        for event in engine.stream(PerceiveRequest(path, str(data_dir), keep=False)):
            found = result_of(event, ImagePerceived) or found
            if isinstance(event, Failed):
                print(f"assistant: {event.message}", file=sys.stderr)
                return 1
            elif isinstance(event, Done) and event.status != "complete":
                print("assistant: stopped", file=sys.stderr)
                return 130
    if found is None:  # a Done without a result: only a broken engine does that
        print(f"assistant: the engine did not say what it found in {path}", file=sys.stderr)
        return 1
    if found.labels_note:
        print(f"assistant: no labels: {found.labels_note}", file=sys.stderr)
    labels = _labels(found, data_dir)
    if as_json:
        print(json.dumps(describe_json(label or path, found, labels), ensure_ascii=False, indent=2))
        return 0
    print(_summary(label or path, found), file=sys.stderr)
    if found.text and poor_read(found.ocr_confidence):
        print(f"assistant: the text was read with low confidence ({found.ocr_confidence:.0%}): "
              "some words may be wrong", file=sys.stderr)
    if found.text:
        print(found.text)
    if labels:
        print("Labels: " + ", ".join(f"{label} ({score:.0%})" for label, score in labels))
    if found.guesses:  # the ImageNet classifier's (engines/classifier.py): guesses, never a description
        print("Guesses (ImageNet classifier): " + format_labels(found.guesses))
    elif found.guesses_note:
        print(f"assistant: no guesses: {found.guesses_note}", file=sys.stderr)
    return 0


def _labels(found: ImagePerceived, data_dir: Any) -> list[tuple[str, float]] | None:
    """The labels, or None when no CLIP model is installed (JSON says null, not an empty list)."""
    if found.labels:
        return list(found.labels)
    from assistant.clip.folder import installed_models  # a folder listing: cheap

    return [] if installed_models(data_dir) else None


def _summary(path: str, found: ImagePerceived) -> str:
    frames = f", first of {found.frames} frames" if found.frames > 1 else ""
    lines = f"{len(found.lines)} lines of text" if found.lines else "no text found"
    if found.lines and found.ocr_confidence is not None:
        lines += f", confidence {found.ocr_confidence:.0%}"
    return f"{path}: {found.format} {found.width} x {found.height}{frames}; {lines} ({found.ocr_s:.2f} s)"


def describe_json(path: str, found: ImagePerceived, labels: list[tuple[str, float]] | None) -> dict[str, Any]:
    scale = found.width / found.read_width if found.read_width else 1.0  # boxes in the original's pixels
    return {
        "file": path,
        "format": found.format,
        "width": found.width,
        "height": found.height,
        "frames": found.frames,
        "sha256": found.sha256,
        "text": found.text,
        "confidence": found.ocr_confidence,
        "lines": [
            {
                "text": line.text,
                "confidence": round(line.confidence, 4),
                "box": [[round(x * scale, 1), round(y * scale, 1)] for x, y in line.box],
            }
            for line in found.lines
        ],
        "labels": None if labels is None else [{"label": label, "score": score} for label, score in labels],
        "guesses": [{"label": label, "score": score} for label, score in found.guesses],
        "ocr_seconds": round(found.ocr_s, 3),
    }
