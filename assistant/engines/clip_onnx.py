"""A CLIP model on onnxruntime: L2-normalised image and text embeddings, no torch.

Both towers are separate sessions, each created on first use: labelling images needs the image tower
and cached label embeddings only, a text search needs only the text tower. The app's own folders
(``import-clip``) have fixed input names and a dynamic batch; Immich's exports (`assistant.clip.immich`)
are read by their graphs: the input's name and type, a batch fixed at 1 (fed one row at a time), and
an image tower that takes uint8 RGB and normalises inside.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.clip.folder import FORMAT, REIMPORT, ClipConfig, read_config
from assistant.clip.immich import AGAIN
from assistant.clip.preprocess import ImageInput, PreprocessSpec, preprocess_batch, rgb_batch
from assistant.clip.tokenizer import ClipTokenizer, ExportedTokenizer
from assistant.models.catalog import ModelError

log = logging.getLogger(__name__)

IMAGE_INPUT, TEXT_INPUT = "pixel_values", "input_ids"
DEFAULT_BATCH = 16
_TYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int64)": np.int64,
          "tensor(int32)": np.int32}


@dataclass(frozen=True)
class TowerInput:
    """What a tower's graph wants fed."""

    name: str
    dtype: type
    channels_last: bool = False  # image: uint8 [batch, H, W, 3], normalised inside the graph
    batch: int | None = None  # a batch size fixed in the graph (Immich exports 1); None: any


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
        self._tokenizer: ClipTokenizer | ExportedTokenizer
        if config.pad_token is not None:
            self._tokenizer = ExportedTokenizer(config.path("tokenizer"), config.context_length,
                                                config.text_clean, config.pad_token)
        else:
            self._tokenizer = ClipTokenizer(config.path("tokenizer"), config.context_length,
                                            config.text_clean)
        self._sessions: dict[str, Any] = {}
        self._inputs: dict[str, TowerInput] = {}
        self._lock = threading.Lock()
        self._again = REIMPORT if config.layout == FORMAT else AGAIN

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
                session = self._open(role)
                self._inputs[role] = self._check_signature(session, role, self.config.path(role))
                self._sessions[role] = session
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
                             f"{self._again}") from None
        log.debug("opened CLIP %s tower %s (threads setting %d)", role, path, self.threads)
        return session

    def _check_signature(self, session: Any, role: str, path: Path) -> TowerInput:
        """The tower's input and output against config.json: a clear ModelError naming the file."""
        inputs, outputs = session.get_inputs(), session.get_outputs()
        found = self._input_of(inputs[0], role) if len(inputs) == 1 else None
        if found is None:
            got = [(i.name, i.type, i.shape) for i in inputs]
            expected = (f"float32 [batch, 3, {self.config.image_size[0]}, {self.config.image_size[1]}]"
                        if role == "image" else f"integer [batch, {self.config.context_length}]")
            raise ModelError(f"the CLIP {role} model {path} does not match its configuration (inputs {got}, "
                             f"expected one {expected}); {self._again}")
        width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
        if not outputs or (isinstance(width, int) and width != self.config.embed_dim):
            raise ModelError(f"the CLIP {role} model {path} gives embeddings of size {width}, the config "
                             f"says embed_dim {self.config.embed_dim} (both towers must agree); "
                             f"{self._again}")
        return found

    def _input_of(self, node: Any, role: str) -> TowerInput | None:
        """The input as this folder's layout allows it, or None when it does not fit."""
        dtype = _TYPES.get(node.type)
        shape = list(node.shape)
        batch = shape[0] if shape and isinstance(shape[0], int) else None
        height, width = self.config.image_size
        if self.config.layout == FORMAT:  # the app's own export: exactly what import-clip writes
            name = IMAGE_INPUT if role == "image" else TEXT_INPUT
            want = [3, height, width] if role == "image" else [self.config.context_length]
            ok = node.name == name and shape[1:] == want
            return TowerInput(name, np.float32 if role == "image" else np.int64) if ok else None
        if role == "image":
            if dtype is np.float32 and shape[1:] == [3, height, width]:
                return TowerInput(node.name, dtype, False, batch)
            if dtype is np.uint8 and shape[1:] == [height, width, 3]:
                return TowerInput(node.name, dtype, True, batch)
            return None
        if dtype in (np.int64, np.int32) and shape[1:] == [self.config.context_length]:
            return TowerInput(node.name, dtype, False, batch)
        return None

    def _run(self, role: str, feed: np.ndarray) -> np.ndarray:
        session = self._session(role)
        tower = self._inputs[role]
        feed = np.ascontiguousarray(feed, dtype=tower.dtype)
        if tower.batch is not None and len(feed) != tower.batch:  # one row at a time (Immich: 1)
            rows = [session.run(None, {tower.name: feed[i:i + tower.batch]})[0]
                    for i in range(0, len(feed), tower.batch)]
            result = np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)
        else:
            result = session.run(None, {tower.name: feed})[0]
        result = np.asarray(result).reshape(len(feed), -1)
        if result.shape[1] != self.dim:
            raise ModelError(f"the CLIP {role} model {self.config.path(role)} gave embeddings of size "
                             f"{result.shape[1]}, the config says {self.dim}; {self._again}")
        return l2_normalised(result)

    def pixels(self, images: Sequence[ImageInput]) -> np.ndarray:
        """The image tower's input for `images`: float32 (N, 3, H, W), or uint8 (N, H, W, 3) for a tower
        that normalises inside its graph."""
        self._session("image")
        if self._inputs["image"].channels_last:
            return rgb_batch(images, self._spec)
        return preprocess_batch(images, self._spec)

    def tokens(self, texts: Sequence[str]) -> np.ndarray:
        """The text tower's input for `texts`: int64 (N, context_length)."""
        return self._tokenizer(texts)

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self._run("image", pixels)

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
