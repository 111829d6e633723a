"""A CLIP model on onnxruntime: L2-normalised image and text embeddings, no torch.

Both towers are separate sessions, each created on first use: labelling images needs the image tower
and cached label embeddings only, a text search needs only the text tower.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.clip.folder import REIMPORT, ClipConfig, read_config
from assistant.clip.preprocess import ImageInput, PreprocessSpec, preprocess_batch
from assistant.clip.tokenizer import ClipTokenizer
from assistant.models.catalog import ModelError

log = logging.getLogger(__name__)

IMAGE_INPUT, TEXT_INPUT = "pixel_values", "input_ids"
DEFAULT_BATCH = 16


def l2_normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero rather than becoming NaN)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


def session_options(threads: int = 0) -> Any:
    """One inference at a time, spread over `threads` cores (0: one per core, at most 8).

    ``inter_op`` stays 1: a CLIP tower is a chain of matrix products with nothing to run in parallel
    beside it, and a second pool would only compete with the first for the same cores.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads > 0 else min(os.cpu_count() or 1, 8)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # onnxruntime's warnings about unused initializers are noise here
    return options


class ClipModel:
    """Use `ClipModel.load(folder)`; the towers open lazily and are then reused (thread-safe open)."""

    def __init__(self, config: ClipConfig, threads: int = 0) -> None:
        self.config = config
        self.threads = threads
        self._spec = PreprocessSpec.of(config)
        self._tokenizer = ClipTokenizer(config.path("tokenizer"), config.context_length, config.text_clean)
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, *, threads: int = 0, eager: bool = False) -> ClipModel:
        """Reads and checks the folder; `eager` also opens both towers now (to fail early)."""
        model = cls(read_config(Path(folder)), threads)
        if eager:
            model._session("image")
            model._session("text")
        return model

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dim(self) -> int:
        return self.config.embed_dim

    @property
    def fingerprint(self) -> str:
        return self.config.fingerprint

    def _session(self, role: str) -> Any:
        with self._lock:
            if role not in self._sessions:
                self._sessions[role] = self._open(role)
            return self._sessions[role]

    def _open(self, role: str) -> Any:
        import onnxruntime as ort

        path = self.config.path(role)
        try:
            session = ort.InferenceSession(str(path), session_options(self.threads),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... for bad files
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"the CLIP {role} model {path} is damaged or not an ONNX model ({reason}); "
                             f"{REIMPORT}") from None
        self._check_signature(session, role, path)
        log.debug("opened CLIP %s tower %s (threads setting %d)", role, path, self.threads)
        return session

    def _check_signature(self, session: Any, role: str, path: Path) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        name = IMAGE_INPUT if role == "image" else TEXT_INPUT
        expected = ([3, *self.config.image_size] if role == "image" else [self.config.context_length])
        shape = list(inputs[0].shape[1:]) if inputs else []
        if len(inputs) != 1 or inputs[0].name != name or shape != expected:
            got = [(i.name, i.shape) for i in inputs]
            raise ModelError(f"the CLIP {role} model {path} does not match its config.json (inputs {got}, "
                             f"expected {name} [batch, {', '.join(map(str, expected))}]); {REIMPORT}")
        if len(outputs) < 1 or outputs[0].shape[-1] != self.config.embed_dim:
            raise ModelError(f"the CLIP {role} model {path} gives embeddings of size {outputs[0].shape[-1]}, "
                             f"config.json says {self.config.embed_dim}; {REIMPORT}")

    def _run(self, role: str, feed: np.ndarray) -> np.ndarray:
        session = self._session(role)
        name = IMAGE_INPUT if role == "image" else TEXT_INPUT
        return l2_normalised(session.run(None, {name: feed})[0])

    def pixels(self, images: Sequence[ImageInput]) -> np.ndarray:
        """The image tower's input for `images`: float32 (N, 3, H, W)."""
        return preprocess_batch(images, self._spec)

    def tokens(self, texts: Sequence[str]) -> np.ndarray:
        """The text tower's input for `texts`: int64 (N, context_length)."""
        return self._tokenizer(texts)

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self._run("image", np.ascontiguousarray(pixels, dtype=np.float32))

    def embed_images(self, images: Sequence[ImageInput], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """float32 (N, D), unit length. Images are PIL images, uint8 arrays, paths or bytes."""
        chunks = [self.embed_pixels(self.pixels(images[i:i + batch_size]))
                  for i in range(0, len(images), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """float32 (N, D), unit length."""
        chunks = [self._run("text", self.tokens(texts[i:i + batch_size]))
                  for i in range(0, len(texts), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)
