"""Hybrid retrieval: BM25 over SQLite FTS5 and cosine similarity over the vectors, fused by reciprocal
rank fusion (RRF: each passage scores Σ 1/(60 + its rank) over the rankings that found it).

Why RRF: BM25 scores and cosines live on different scales, and RRF needs no calibration between them
(Cormack et al. 2009; the k = 60 they found is used by Elasticsearch, OpenSearch and Weaviate too). A
passage found by both halves rises above one found by either alone; each half fetches `CANDIDATES`
more than asked so a passage ranked modestly by both still surfaces.

The query for FTS5 is the question's words joined by OR (every word may match; BM25 weighs rare words
up), without the most common English words, whose long posting lists would only cost time. BM25-only
is what runs when there is no embedding model or no vectors yet; vector-only exists for comparison.

Relevance: a passage is `relevant` when its cosine to the question reaches `RELEVANT_COSINE` (MiniLM
scores related pairs around 0.5-0.8 and unrelated ones near 0), or, without vectors, when it holds at
least half of the question's words. When nothing is relevant the answer must say so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.documents.store import DocumentStore
from assistant.documents.types import Passage, SearchMode

RRF_K = 60
CANDIDATES = 50
RELEVANT_COSINE = 0.3
_WORD = re.compile(r"\w+", re.UNICODE)
# Common English words left out of the FTS5 query (their posting lists span most passages).
_STOPWORD_TEXT = (
    "a about above after again against all am an and any are as at be because been before being below "
    "between both but by can could did do does doing down during each few for from further had has have "
    "having he her here hers herself him himself his how i if in into is it its itself just me more most "
    "my myself no nor not now of off on once only or other our ours ourselves out over own same she "
    "should so some such than that the their theirs them themselves then there these they this those "
    "through to too under until up very was we were what when where which while who whom why will with "
    "would you your yours yourself yourselves "
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def query_words(text: str) -> list[str]:
    """The question's searchable words, lower-cased, common words dropped, each once, in order."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return list(dict.fromkeys(kept or words))


def fts_match(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: the words as quoted strings joined by OR (no operator injection)."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


@dataclass(frozen=True)
class Ranked:
    chunk_id: int
    score: float
    bm25_rank: int | None
    vector_rank: int | None


def fuse(bm25: Sequence[int], vector: Sequence[int], k: int = RRF_K) -> list[Ranked]:
    """Reciprocal rank fusion of two rankings of chunk ids (best first)."""
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for position, chunk in enumerate(bm25, start=1):
        scores[chunk] = scores.get(chunk, 0.0) + 1.0 / (k + position)
        ranks.setdefault(chunk, [None, None])[0] = position
    for position, chunk in enumerate(vector, start=1):
        scores[chunk] = scores.get(chunk, 0.0) + 1.0 / (k + position)
        ranks.setdefault(chunk, [None, None])[1] = position
    ordered = sorted(scores, key=lambda c: (-scores[c], c))
    return [Ranked(c, scores[c], ranks[c][0], ranks[c][1]) for c in ordered]


@dataclass
class SearchResult:
    passages: list[Passage]
    mode: SearchMode
    search_s: float


def search(store: DocumentStore, query: str, *, k: int, mode: SearchMode, query_vector=None,
           vectors=None, source_ids: Sequence[int] = ()) -> SearchResult:
    """The `k` best passages for `query`. `vectors` (a VectorIndex) and `query_vector` (the question's
    unit embedding) are None without an embedding model: hybrid then runs as BM25 alone."""
    started = time.perf_counter()
    has_vectors = query_vector is not None and vectors is not None and len(vectors) > 0
    if mode != "bm25" and not has_vectors:
        mode = "bm25"
    words = query_words(query)
    bm25_ids: list[int] = []
    if mode in ("hybrid", "bm25") and words:
        bm25_ids = [row[0] for row in store.fts(fts_match(words), max(CANDIDATES, k), source_ids)]
    vector_hits: list[tuple[int, float]] = []
    if mode in ("hybrid", "vector") and has_vectors:
        allowed = vectors.mask_for(store, source_ids) if source_ids else None
        vector_hits = vectors.nearest(query_vector, max(CANDIDATES, k), allowed)
    fused = fuse(bm25_ids, [c for c, _ in vector_hits])[:k]
    stored = store.chunks([r.chunk_id for r in fused])
    passages = []
    for ranked in fused:
        chunk = stored.get(ranked.chunk_id)
        if chunk is None:  # removed between the two queries
            continue
        similarity = vectors.similarity(query_vector, chunk.chunk_id) if has_vectors else None
        passages.append(Passage(chunk.chunk_id, chunk.path, chunk.locator, chunk.text, ranked.score,
                                ranked.bm25_rank, ranked.vector_rank, similarity,
                                is_relevant(chunk.text, words, similarity)))
    return SearchResult(passages, mode, time.perf_counter() - started)


def is_relevant(text: str, words: Sequence[str], similarity: float | None) -> bool:
    if similarity is not None:
        return similarity >= RELEVANT_COSINE
    if not words:
        return False
    found = {w.lower() for w in _WORD.findall(text)}
    hits = sum(1 for w in words if w in found or any(f.startswith(w[:5]) for f in found if len(w) > 5))
    return hits * 2 >= len(words)
