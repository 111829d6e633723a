"""Zero-shot labels: which words of a vocabulary an image looks like, by CLIP similarity.

Each label becomes a prompt ("a photo of a {label}."), the prompts are embedded once per model and
vocabulary and cached on disk (a few hundred texts take seconds on a CPU; a cached matrix loads in
a millisecond), and an image's labels are the softmax over ``logit_scale * cosine``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from assistant.protocols import ClipEncoder
from assistant.resources_path import resource_path

log = logging.getLogger(__name__)

LABELS_PATH = resource_path("clip_labels.txt")
TEMPLATE = "a photo of a {label}."


@dataclass(frozen=True)
class Label:
    label: str
    probability: float  # over the whole vocabulary
    similarity: float  # cosine between the image and the label's prompt


def read_labels(path: Path = LABELS_PATH) -> list[str]:
    """One label per line; blank lines and '#' comments skipped, duplicates dropped, order kept."""
    lines = path.read_text(encoding="utf-8").splitlines()
    labels = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return list(dict.fromkeys(labels))


class ZeroShotLabeler:
    """Labels for image embeddings; the label embeddings are computed once and cached under `cache_dir`."""

    # Per process, shared by every labeler of the same model and vocabulary.
    _memory: ClassVar[dict[str, np.ndarray]] = {}

    def __init__(self, model: ClipEncoder, labels: Sequence[str] | None = None, *,
                 template: str = TEMPLATE, cache_dir: Path | None = None) -> None:
        self.model = model
        self.labels = list(labels) if labels is not None else read_labels()
        if not self.labels:
            raise ValueError("the label vocabulary is empty")
        self.prompts = [template.format(label=label) for label in self.labels]
        self.cache_dir = cache_dir
        digest = hashlib.sha256("\n".join(self.prompts).encode("utf-8")).hexdigest()[:16]
        self._key = f"{model.fingerprint}-{digest}"

    def label_embeddings(self) -> np.ndarray:
        """float32 (L, D): memory, then the disk cache, then the model."""
        cached = self._memory.get(self._key)
        if cached is None:
            cached = self._read_cache()
        if cached is None:
            cached = np.ascontiguousarray(self.model.embed_texts(self.prompts), dtype=np.float32)
            self._write_cache(cached)
        self._memory[self._key] = cached
        return cached

    def _cache_path(self) -> Path | None:
        return self.cache_dir / f"{self._key}.npy" if self.cache_dir else None

    def _read_cache(self) -> np.ndarray | None:
        path = self._cache_path()
        if path is None or not path.is_file():
            return None
        try:
            matrix = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("ignoring a damaged label cache %s: %s", path, exc)
            return None
        if matrix.shape[0] != len(self.prompts) or matrix.dtype != np.float32:
            return None
        return matrix

    def _write_cache(self, matrix: np.ndarray) -> None:
        path = self._cache_path()
        if path is None:
            return
        try:  # temp file + rename: a crash never leaves a half-written cache that loads
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, matrix, allow_pickle=False)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot cache label embeddings in %s: %s", path, exc)

    def classify(self, image_embeddings: np.ndarray, top_k: int = 5) -> list[list[Label]]:
        """The `top_k` most likely labels of each image embedding (unit length, (N, D))."""
        labels = self.label_embeddings()
        similarity = np.atleast_2d(image_embeddings).astype(np.float32) @ labels.T
        scale = float(getattr(self.model.config, "logit_scale", 100.0))
        logits = scale * similarity
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        k = min(top_k, len(self.labels))
        results = []
        for row_p, row_s in zip(probabilities, similarity, strict=True):
            best = np.argsort(-row_p, kind="stable")[:k]
            results.append([Label(self.labels[i], float(row_p[i]), float(row_s[i])) for i in best])
        return results
