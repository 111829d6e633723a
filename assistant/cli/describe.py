"""`assistant describe IMAGE`: print the text in an image (OCR) and, with a CLIP model, its top labels.

Runs in this process (a command-line tool has no window to protect; the window uses the engine).
The text goes to stdout so `assistant describe shot.png > shot.txt` stays clean; what the image is and
how long reading took go to stderr; `--json` prints everything, boxes included, as one JSON object.
A bad image exits with 1 and the message from `ImageError`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from assistant.images.errors import ImageError
from assistant.images.safe_image import OCR_MAX_SIDE, DecodedImage, open_image
from assistant.protocols import ReadText, TextReader

logger = logging.getLogger(__name__)

# (label, score) pairs, best first. CLIP fills this in; see `find_labeler`.
Labels = Sequence[tuple[str, float]]
Labeler = Callable[[DecodedImage], Labels]
TOP_LABELS = 5


def find_labeler() -> Labeler | None:
    """The CLIP labeller when a CLIP model is installed, else None (then only text is printed).

    The first installed model (`assistant models import-clip`), as the window's perception uses. Cheap
    when CLIP is absent: only a folder listing. A broken model is reported once and costs the labels,
    not the text.
    """
    from assistant import settings
    from assistant.clip.folder import installed_models

    data_dir = settings.data_dir()
    folders = installed_models(data_dir)
    if not folders:
        return None
    try:
        from assistant.clip.labels import ZeroShotLabeler
        from assistant.engines.clip_onnx import ClipModel

        model = ClipModel.load(folders[0], eager=True)  # a damaged file fails here, not mid-describe
        labeler = ZeroShotLabeler(model, cache_dir=data_dir / "cache" / "clip-labels")
    except Exception as exc:  # ModelError, or onnxruntime refusing a damaged file
        logger.debug("CLIP model unusable", exc_info=True)
        print(f"assistant: no labels: the CLIP model in {folders[0]} could not be loaded ({exc})",
              file=sys.stderr)
        return None

    def label(decoded: DecodedImage) -> Labels:
        [best] = labeler.classify(model.embed_images([decoded.image]), top_k=TOP_LABELS)
        return [(item.label, round(item.probability, 4)) for item in best]

    return label


def describe_command(path: str, *, as_json: bool = False) -> int:
    """Exit code 0 when the image was read (with or without text in it), 1 on an error."""
    try:
        decoded = open_image(path, max_side=OCR_MAX_SIDE)
    except ImageError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 1
    try:
        reader = _load_reader()
        read = reader.read(decoded.image)
    except ImportError as exc:
        logger.debug("OCR unavailable", exc_info=True)
        print(f"assistant: reading text needs rapidocr-onnxruntime ({exc}); "
              "install it with: pip install rapidocr-onnxruntime==1.4.4", file=sys.stderr)
        return 1
    except Exception as exc:
        logger.debug("OCR failed", exc_info=True)
        print(f"assistant: reading text in {path} failed: {exc}", file=sys.stderr)
        return 1
    labeler = find_labeler()
    labels = list(labeler(decoded))[:TOP_LABELS] if labeler is not None else None
    if as_json:
        print(json.dumps(describe_json(path, decoded, read, labels), ensure_ascii=False, indent=2))
        return 0
    print(_summary(path, decoded, read), file=sys.stderr)
    if read.text:
        print(read.text)
    if labels:
        print("Labels: " + ", ".join(f"{label} ({score:.0%})" for label, score in labels))
    return 0


def _load_reader() -> TextReader:
    from assistant.engines.ocr import RapidTextReader  # the engine module owns onnxruntime and OpenCV

    return RapidTextReader.load()


def _summary(path: str, decoded: DecodedImage, read: ReadText) -> str:
    frames = f", first of {decoded.frames} frames" if decoded.frames > 1 else ""
    found = f"{len(read.lines)} lines of text" if read.lines else "no text found"
    size = f"{decoded.width} x {decoded.height}"
    return f"{path}: {decoded.format} {size}{frames}; {found} ({read.seconds:.2f} s)"


def describe_json(path: str, decoded: DecodedImage, read: ReadText, labels: Labels | None) -> dict[str, Any]:
    scale = decoded.width / decoded.image.width  # boxes in the original image's pixels
    return {
        "file": path,
        "format": decoded.format,
        "width": decoded.width,
        "height": decoded.height,
        "frames": decoded.frames,
        "sha256": decoded.sha256,
        "text": read.text,
        "lines": [
            {
                "text": line.text,
                "confidence": round(line.confidence, 4),
                "box": [[round(x * scale, 1), round(y * scale, 1)] for x, y in line.box],
            }
            for line in read.lines
        ],
        "labels": None if labels is None else [{"label": label, "score": score} for label, score in labels],
        "ocr_seconds": round(read.seconds, 3),
    }
