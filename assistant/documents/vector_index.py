"""The library's vectors of one embedding model in memory as int8 rows, searched by one product.

Loaded from the `vectors` table when first searched and again only when the library's generation moved (a file
was indexed or removed). While files are being added, only the new vectors are read and appended (the store
says when a change was more than that): at 100,000 passages reading them all again took 1.3-2.9 s, which a
question asked during indexing used to wait for after every file. Each unit-length row is kept as int8 with
its own scale (largest magnitude / 127): a quarter of float32's memory (38 MB at 100,000 passages of 384
dimensions) and a quarter of the bytes a question's product must read, which is what that product costs. Its
cosines are within ~0.003 of float32's, far below the gaps between passages that matter (the relevance line is
0.3). The product itself comes from the engine (`product`, see `engines/vector_product.py`: onnxruntime's int8
product over the packed matrix); without one the rows are converted to float32 a block at a time and
multiplied by numpy, slower but the same scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import numpy as np

from assistant.documents.store import DocumentStore

logger = logging.getLogger(__name__)

Scorer = Callable[[np.ndarray], np.ndarray]
ProductFactory = Callable[[np.ndarray, np.ndarray], Scorer]
_BLOCK = 16_384  # rows converted at a time by the numpy fallback
# Below this many rows numpy's product takes a few milliseconds and building the engine's product
# (which packs the matrix) would cost more than it saves.
PRODUCT_FROM = 20_000
# Appended rows are scored by numpy until there are this many (~10 ms), then the product is built
# again over all rows (packing costs 0.3-0.7 s at 100,000, so it is not done after every file).
UNPACKED_TAIL = 20_000


def int8_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row as int8 times a scale (symmetric: the row's largest magnitude maps to 127)."""
    scales = np.abs(matrix).max(axis=1) / 127 if len(matrix) else np.zeros(0, np.float32)
    scales = np.where(scales > 0, scales, 1.0).astype(np.float32)
    codes = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


class VectorIndex:
    """`codes` holds the int8 rows transposed, [dim, rows] (one passage per column): the layout of the
    right-hand matrix of the product question [1, dim] @ codes, which the engine's product packs as is."""

    def __init__(self, model: str, dim: int, product: ProductFactory | None = None) -> None:
        self.model = model
        self.dim = dim
        self.generation = -1
        self.ids = np.zeros(0, dtype=np.int64)
        self.codes = np.zeros((dim, 0), dtype=np.int8)
        self.scales = np.zeros(0, dtype=np.float32)
        self._product = product
        self._score: Scorer | None = None
        self._packed = 0  # rows [0, _packed) are scored by _score, the rest by numpy
        self._row_of: dict[int, int] = {}
        self._sources: np.ndarray | None = None  # source id per row, read when a search is limited

    def refresh(self, store: DocumentStore) -> None:
        generation, reshaped = store.vector_state()
        if generation == self.generation:
            return
        started = time.perf_counter()
        append = self.generation >= 0 and reshaped <= self.generation
        after = int(self.ids[-1]) if append and len(self.ids) else -1
        ids: list[np.ndarray] = [self.ids] if append else []
        codes: list[np.ndarray] = []
        scales: list[np.ndarray] = [self.scales] if append else []
        for batch in store.iter_vectors(self.model, after=after):
            ids.append(np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch)))
            flat = np.frombuffer(b"".join(r[1] for r in batch), dtype="<f4").reshape(len(batch), self.dim)
            part_codes, part_scales = int8_rows(flat)  # converted per batch: float32 never held whole
            codes.append(part_codes)
            scales.append(part_scales)
        kept = len(self.ids) if append else 0
        self.ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        self.scales = np.concatenate(scales) if scales else np.zeros(0, np.float32)
        # Transposed a batch at a time: each batch's block stays in the CPU cache (a transpose of the
        # whole matrix at once took 5x as long).
        matrix = np.empty((self.dim, len(self.ids)), dtype=np.int8)
        matrix[:, :kept] = self.codes[:, :kept]
        column = kept
        for block in codes:
            matrix[:, column:column + len(block)] = block.T
            column += len(block)
        self.codes = matrix
        del codes
        if append:
            self._row_of.update((int(self.ids[row]), row) for row in range(kept, len(self.ids)))
        else:
            self._row_of = {int(chunk): row for row, chunk in enumerate(self.ids)}
            self._score, self._packed = None, 0
        self._sources = None
        loaded = time.perf_counter()
        if self._product is not None and len(self.ids) >= PRODUCT_FROM and (
                len(self.ids) - self._packed >= UNPACKED_TAIL or self._score is None):
            self._score, self._packed = self._product(self.codes, self.scales), len(self.ids)
        self.generation = generation
        logger.info("%s %d document vectors (%d now) in %.2f s (product ready in %.2f s)",
                    "appended" if append else "loaded", len(self.ids) - kept, len(self.ids),
                    loaded - started, time.perf_counter() - loaded)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """The cosine of every row with `query` (a unit vector)."""
        query = np.asarray(query, dtype=np.float32)
        out = np.empty(len(self.ids), dtype=np.float32)
        start = 0
        if self._score is not None:
            out[:self._packed] = self._score(query)
            start = self._packed
        for begin in range(start, len(self.ids), _BLOCK):
            end = min(begin + _BLOCK, len(self.ids))
            out[begin:end] = query @ self.codes[:, begin:end].astype(np.float32) * self.scales[begin:end]
        return out

    def nearest(self, query: np.ndarray, limit: int, allowed: np.ndarray | None = None
                ) -> list[tuple[int, float]]:
        """(chunk id, cosine) best first; `allowed` is a boolean mask over the rows (a source filter)."""
        if not len(self.ids) or limit <= 0:
            return []
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        limit = min(limit, len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top])]
        return [(int(self.ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def similarity(self, query: np.ndarray, chunk_id: int) -> float | None:
        row = self._row_of.get(chunk_id)
        if row is None:
            return None
        return float(self.codes[:, row].astype(np.float32) @ np.asarray(query, np.float32) * self.scales[row])

    def mask_for(self, store: DocumentStore, source_ids: Iterable[int]) -> np.ndarray:
        """Which rows belong to the given sources (the passage -> source map is read once per change)."""
        if self._sources is None:
            owner = store.chunk_sources()
            self._sources = np.fromiter((owner.get(int(c), -1) for c in self.ids), dtype=np.int64,
                                        count=len(self.ids))
        return np.isin(self._sources, np.fromiter(source_ids, dtype=np.int64))
