"""The library's vectors of one embedding model as an in-memory float32 matrix, searched by one product.

Loaded from the `vectors` table when first searched and again only when the library's generation
moved (a file was indexed or removed), so a query costs one matrix-vector product: 100,000 passages
× 384 dimensions is 38 million multiply-adds, a few milliseconds through BLAS. Rows are unit length,
so the product is the cosine similarity.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from assistant.documents.store import DocumentStore

logger = logging.getLogger(__name__)


class VectorIndex:
    def __init__(self, model: str, dim: int) -> None:
        self.model = model
        self.dim = dim
        self.generation = -1
        self.ids = np.zeros(0, dtype=np.int64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self._row_of: dict[int, int] = {}

    def refresh(self, store: DocumentStore) -> None:
        generation = store.generation()
        if generation == self.generation:
            return
        started = time.perf_counter()
        ids: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        for batch in store.iter_vectors(self.model):
            ids.append(np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch)))
            flat = np.frombuffer(b"".join(r[1] for r in batch), dtype="<f4")
            rows.append(flat.reshape(len(batch), self.dim))
        self.ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        self.matrix = (np.ascontiguousarray(np.concatenate(rows)) if rows
                       else np.zeros((0, self.dim), np.float32))
        self._row_of = {int(chunk): row for row, chunk in enumerate(self.ids)}
        self.generation = generation
        logger.info("loaded %d document vectors in %.2f s", len(self.ids), time.perf_counter() - started)

    def __len__(self) -> int:
        return len(self.ids)

    def nearest(self, query: np.ndarray, limit: int, allowed: np.ndarray | None = None
                ) -> list[tuple[int, float]]:
        """(chunk id, cosine) best first; `allowed` is a boolean mask over the rows (a source filter)."""
        if not len(self.ids) or limit <= 0:
            return []
        scores = self.matrix @ query.astype(np.float32)
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        limit = min(limit, len(scores))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top])]
        return [(int(self.ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def similarity(self, query: np.ndarray, chunk_id: int) -> float | None:
        row = self._row_of.get(chunk_id)
        return None if row is None else float(self.matrix[row] @ query)

    def mask_for(self, chunk_sources: dict[int, int], source_ids: set[int]) -> np.ndarray:
        return np.fromiter((chunk_sources.get(int(c), -1) in source_ids for c in self.ids), dtype=bool,
                           count=len(self.ids))
