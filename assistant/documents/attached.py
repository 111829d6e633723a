"""A document attached to one question: read whole when it fits, else the passages that answer it.

Not added to the library: its passages are ranked in memory, BM25 from a throw-away in-memory FTS5
table and, with an embedding model, the cosine of the best BM25 candidates plus the passages nearest
by embedding among the first ones, fused like a library search. Only `CANDIDATES` passages are
embedded, so a 500-page attachment costs seconds, not minutes. What is chosen comes back in document
order, within the character budget.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.documents.search import fts_match, fuse, is_relevant, query_words
from assistant.documents.store import ChunkRow
from assistant.documents.types import Passage
from assistant.protocols import TextEmbedder

CANDIDATES = 48


@dataclass(frozen=True)
class Selection:
    passages: list[Passage]
    whole: bool
    chars: int


def select_passages(path: str, chunks: Sequence[ChunkRow], query: str, max_chars: int,
                    embedder: TextEmbedder | None) -> Selection:
    chars = sum(len(c.text) for c in chunks)
    if chars <= max_chars or not chunks:
        return Selection([Passage(0, path, c.locator, c.text) for c in chunks], True, chars)
    words = query_words(query)
    bm25 = _bm25_order(chunks, words)
    vector: list[int] = []
    similarity: dict[int, float] = {}
    if embedder is not None and query.strip():
        pool = list(dict.fromkeys(bm25[:CANDIDATES] + list(range(min(CANDIDATES // 2, len(chunks))))))
        texts = [chunks[i].text for i in pool]
        matrix = np.asarray(embedder.embed([query, *texts]), dtype=np.float32)
        scores = matrix[1:] @ matrix[0]
        similarity = {index: float(score) for index, score in zip(pool, scores, strict=True)}
        vector = sorted(pool, key=lambda i: -similarity[i])
    order = [r.chunk_id for r in fuse(bm25, vector)] or list(range(len(chunks)))
    chosen: list[int] = []
    used = 0
    for index in order:
        size = len(chunks[index].text)
        if used + size > max_chars:
            continue
        chosen.append(index)
        used += size
    passages = []
    for index in sorted(chosen):
        chunk = chunks[index]
        sim = similarity.get(index)
        passages.append(Passage(0, path, chunk.locator, chunk.text, similarity=sim,
                                relevant=is_relevant(chunk.text, words, sim)))
    return Selection(passages, False, chars)


def _bm25_order(chunks: Sequence[ChunkRow], words: Sequence[str]) -> list[int]:
    if not words:
        return []
    conn = sqlite3.connect(":memory:")
    try:
        # The library's tokenizer (documents.schema), so an attachment ranks as a library search does.
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, "
                     "tokenize='porter unicode61 remove_diacritics 2')")
        conn.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)",
                         ((i, c.text) for i, c in enumerate(chunks)))
        rows = conn.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?",
                            (fts_match(words), CANDIDATES)).fetchall()
    finally:
        conn.close()
    return [int(r[0]) for r in rows]
