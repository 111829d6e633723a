"""The in-memory vector index on a real SQLite library: int8 rows give the float32 cosines within
quantisation error and the same nearest passages, whether scored by the engine's onnxruntime product or
by numpy; a search limited to some sources sees only their passages, also after a folder absorbed a
file source; the embedding batches of a large library each start where the last one ended."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.documents import vector_index
from assistant.documents.store import ChunkRow, DocumentStore
from assistant.documents.types import Locator
from assistant.documents.vector_index import VectorIndex, int8_rows
from assistant.engines.vector_product import int8_product

DIM = 384
MODEL = "test-model"


def unit_rows(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def fill(store: DocumentStore, source: int, folder: str, vectors: np.ndarray, files: int = 4) -> list[int]:
    """Passages in `files` files under `folder`, each with its row of `vectors`; returns their ids."""
    ids: list[int] = []
    per_file = -(-len(vectors) // files)
    for index in range(files):
        path = f"{folder}/file-{index}.txt"
        rows = vectors[index * per_file:(index + 1) * per_file]
        passages = [ChunkRow(Locator(first_line=i + 1, last_line=i + 1), f"passage {i} of {path}")
                    for i in range(len(rows))]
        store.write_file(source, path, size=1, mtime_ns=1, sha256="", kind="text", chunks=passages)
        file_ids = [r[0] for r in store._conn.execute(
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.seq",
            (path,))]
        store.add_vectors(MODEL, [(c, rows[i].tobytes()) for i, c in enumerate(file_ids)])
        ids += file_ids
    return ids


def test_int8_rows_keep_cosines_within_quantisation_error() -> None:
    rows = unit_rows(500, 1)
    codes, scales = int8_rows(rows)
    assert codes.dtype == np.int8 and np.abs(codes).max() == 127
    back = codes.astype(np.float32) * scales[:, None]
    query = unit_rows(1, 2)[0]
    assert np.abs(back @ query - rows @ query).max() < 0.01


@pytest.mark.parametrize("engine_product", [True, False])
def test_index_finds_the_float32_nearest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         engine_product: bool) -> None:
    monkeypatch.setattr(vector_index, "PRODUCT_FROM", 0)  # the engine's product at any size
    rows = unit_rows(3000, 3)
    with DocumentStore.open(tmp_path) as store:
        ids = fill(store, store.insert_source("/docs", True), "/docs", rows)
        index = VectorIndex(MODEL, DIM, int8_product(1) if engine_product else None)
        index.refresh(store)
        assert len(index) == 3000 and index.codes.shape == (DIM, 3000)
        assert (index._score is not None) == engine_product
        for target in (17, 1234, 2999):
            query = rows[target] + 0.3 * rows[target - 1]  # near two passages, the first nearer
            query /= np.linalg.norm(query)
            exact = rows @ query
            found = index.nearest(query, 10)
            assert [c for c, _ in found][:2] == [ids[target], ids[target - 1]]
            assert np.abs(index.scores(query) - exact).max() < 0.01
            assert abs(index.similarity(query, ids[target]) - exact[target]) < 0.01
            best_exact = set(np.array(ids)[np.argsort(-exact)[:10]])
            assert len(best_exact & {c for c, _ in found}) >= 9  # near-ties may swap at the edge


def test_limited_search_sees_only_its_sources_also_after_a_folder_absorbs_a_file(tmp_path: Path) -> None:
    with DocumentStore.open(tmp_path) as store:
        rows = unit_rows(40, 4)
        lone = store.insert_source("/other/a.txt", False)
        lone_ids = fill(store, lone, "/other", rows[:20], files=1)
        docs = store.insert_source("/docs", True)
        docs_ids = fill(store, docs, "/docs", rows[20:], files=2)
        index = VectorIndex(MODEL, DIM)
        index.refresh(store)
        query = rows[5]
        only_docs = index.nearest(query, 5, index.mask_for(store, [docs]))
        assert {c for c, _ in only_docs} <= set(docs_ids)
        assert index.nearest(query, 1, index.mask_for(store, [lone]))[0][0] == lone_ids[5]
        # A folder added above the lone file's folder takes its files over: the map must follow.
        above = store.insert_source("/", True, absorb=[lone, docs])
        index.refresh(store)
        assert index.nearest(query, 1, index.mask_for(store, [above]))[0][0] == lone_ids[5]
        assert not index.mask_for(store, [lone]).any()


def test_embedding_batches_start_where_the_last_one_ended(tmp_path: Path) -> None:
    with DocumentStore.open(tmp_path) as store:
        source = store.insert_source("/docs", True)
        lines = [ChunkRow(Locator(first_line=i, last_line=i), f"line {i}") for i in range(10)]
        store.write_file(source, "/docs/a.txt", size=1, mtime_ns=1, sha256="", kind="text", chunks=lines)
        first = store.unembedded_with_headings(MODEL, 4)
        following = store.unembedded_with_headings(MODEL, 4, after=first[-1][0])
        assert [r[0] for r in following] == [r[0] + 4 for r in first]
        assert len(store.unembedded_with_headings(MODEL, 100, after=following[-1][0])) == 2


@pytest.mark.parametrize("engine_product", [True, False])
def test_files_added_are_appended_and_anything_else_reloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             engine_product: bool) -> None:
    """While files are added only their vectors are read; a changed or removed file (whose chunk ids may be
    reused) reads everything again. After every step the index must equal one loaded from scratch."""
    monkeypatch.setattr(vector_index, "PRODUCT_FROM", 0)
    monkeypatch.setattr(vector_index, "UNPACKED_TAIL", 300)  # some appends repack, some stay in numpy
    rows = unit_rows(1200, 5)
    with DocumentStore.open(tmp_path) as store:
        source = store.insert_source("/docs", True)
        index = VectorIndex(MODEL, DIM, int8_product(1) if engine_product else None)
        read: list[int] = []
        real_iter = store.iter_vectors
        monkeypatch.setattr(store, "iter_vectors", lambda model, batch=4096, after=-1: (
            read.append(after) or real_iter(model, batch, after)))

        def same_as_a_fresh_load(query: np.ndarray) -> None:
            fresh = VectorIndex(MODEL, DIM)
            fresh.refresh(store)
            assert np.array_equal(index.ids, fresh.ids) and np.array_equal(index.codes, fresh.codes)
            assert np.abs(index.scores(query) - fresh.scores(query)).max() < 0.01
            best = fresh.nearest(query, 5)
            assert [c for c, _ in index.nearest(query, 5)][:3] == [c for c, _ in best][:3]
            assert all(index.similarity(query, c) == pytest.approx(s, abs=0.01) for c, s in best)

        query = rows[700]
        for step in range(4):  # four files added one by one: appended after the first load
            fill(store, source, f"/docs/part-{step}", rows[step * 250:(step + 1) * 250], files=1)
            read.clear()
            index.refresh(store)
            assert read == ([-1] if step == 0 else [int(index.ids[-251])]), read
            same_as_a_fresh_load(query)
        # The newest file changes: its chunks are deleted and the same ids come back with new vectors.
        fill(store, source, "/docs/part-3", rows[1000:1200], files=1)
        read.clear()
        index.refresh(store)
        assert read == [-1]  # a full reload
        same_as_a_fresh_load(rows[1100])
        assert index.nearest(rows[1100], 1)[0][1] > 0.99
        # A file removed: a full reload too, and then appends again.
        store.forget_files([store._conn.execute("SELECT id FROM files ORDER BY id LIMIT 1").fetchone()[0]])
        read.clear()
        index.refresh(store)
        assert read == [-1] and len(index) == 700
        same_as_a_fresh_load(query)
        fill(store, source, "/docs/part-5", rows[:50], files=1)
        read.clear()
        index.refresh(store)
        assert read == [int(index.ids[-51])] and len(index) == 750
        same_as_a_fresh_load(rows[10])
