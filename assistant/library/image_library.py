"""The image library: every image shared in a conversation, kept once by content, searchable by CLIP.

On disk: the image itself is the copy `assistant.images.kept` keeps under ``<data_dir>/images/``
(named by the sha256 of the shared file, decoded safely and re-encoded without metadata; a second
share costs nothing), and under ``<data_dir>/image_library/``::

    vectors/<model>.f32        one embedding per image per CLIP model (`image_library_vectors`)
    library.sqlite3            images, where each was shared (conversation id, message id), vector rows

Search is exact: the query embedding against every stored row (one BLAS matrix-vector product over a
memory map), then ``argpartition`` for the top k; 100,000 images of a 512-d model are scanned in
~9-12 ms on two cores (``assistant bench vision --parts search``). Embeddings come from an
`ClipEncoder` (a `ClipModel` in-process, or vectors computed in the engine process and passed to
`add` / `search_vector`), so this module imports no ML library.

Not thread-safe: one library object per thread (the GUI thread owns the window's).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.history.types import StoreError
from assistant.images.kept import is_sha256, keep, kept_path
from assistant.images.safe_image import DecodedImage, decode_image, open_image
from assistant.library.store import LibraryDb
from assistant.library.vectors import VectorFile
from assistant.protocols import ClipEncoder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageUse:
    conversation_id: int
    message_id: int


@dataclass(frozen=True)
class ImageHit:
    hash: str
    score: float  # cosine similarity to the query
    path: Path
    uses: tuple[ImageUse, ...]  # where it was shared, oldest first: a result opens its conversation


@dataclass
class _Index:
    """Row number → hash for one model, plus the rows that hold a live image."""

    version: tuple[int, int]
    hashes: np.ndarray  # object array, None for rows of forgotten images
    alive: np.ndarray  # bool
    rows: dict[str, int]


class ImageLibrary:
    def __init__(self, data_dir: Path, encoder: ClipEncoder | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "image_library"
        self.encoder = encoder
        self._clock = clock
        self._db = LibraryDb(self.root / "library.sqlite3")
        self._vectors: dict[str, VectorFile] = {}
        self._indexes: dict[str, _Index] = {}
        self._writes = 0  # bumped by every write of ours; PRAGMA data_version covers other processes

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ImageLibrary:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- adding -------------------------------------------------------------------------------------

    def add(self, image: bytes | Path | DecodedImage, conversation_id: int, message_id: int, *,
            embedding: np.ndarray | None = None) -> str:
        """Keeps the image (once per content) and where it was shared; returns its sha256.

        `image` is a file, its bytes, or an image `assistant.images.safe_image` already decoded (the
        engine process has one). A file that is not a safe image raises its `ImageError`. The
        embedding is `embedding` when given (computed elsewhere, e.g. in the engine process), else the
        encoder's; without either the image is stored unindexed (see `unindexed`).
        """
        if isinstance(image, DecodedImage):
            decoded = image
        elif isinstance(image, bytes):
            decoded = decode_image(image)
        else:
            decoded = open_image(image)
        try:
            kept = keep(decoded, self.data_dir)
        except OSError as exc:
            raise StoreError(f"The image could not be saved in your data folder ({self.data_dir}): "
                             f"{exc.strerror or exc}") from exc
        digest, now = decoded.sha256, self._clock()
        relative = kept.path.relative_to(self.data_dir).as_posix()
        with self._db.transaction("the image could not be added to your library") as tx:
            tx.execute("INSERT OR IGNORE INTO images(hash, file, bytes, width, height, added_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (digest, relative, kept.path.stat().st_size, decoded.width, decoded.height, now))
            tx.execute("INSERT OR IGNORE INTO uses(hash, conversation_id, message_id, added_at) "
                       "VALUES (?, ?, ?, ?)", (digest, int(conversation_id), int(message_id), now))
        self._writes += 1
        if embedding is None and self.encoder is not None and not self.has_embedding(digest):
            embedding = self.encoder.embed_images([decoded.image])[0]
        if embedding is not None:
            self.set_embedding(digest, embedding)
        return digest

    def record(self, digest: str, conversation_id: int, message_id: int, *, width: int = 0,
               height: int = 0, embedding: np.ndarray | None = None, model: str | None = None) -> bool:
        """Records an image the engine process already kept (`images.kept`) without decoding it here.

        The window's process never decodes a shared image (a hostile file must not reach it), so it
        adds by hash what the engine's ImagePerceived reported. False when there is no kept copy
        (the disk refused it): nothing is recorded then. `model` names the embedding's CLIP model.
        """
        path = kept_path(digest, self.data_dir)
        if path is None:
            log.warning("No kept copy of image %s: not added to the library", digest[:12])
            return False
        now = self._clock()
        with self._db.transaction("the image could not be added to your library") as tx:
            tx.execute("INSERT OR IGNORE INTO images(hash, file, bytes, width, height, added_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (digest, path.relative_to(self.data_dir).as_posix(), path.stat().st_size,
                        int(width), int(height), now))
            tx.execute("INSERT OR IGNORE INTO uses(hash, conversation_id, message_id, added_at) "
                       "VALUES (?, ?, ?, ?)", (digest, int(conversation_id), int(message_id), now))
        self._writes += 1
        if embedding is not None and (model or self.encoder is not None):
            self.set_embedding(digest, embedding, model)
        return True

    def set_embedding(self, digest: str, embedding: np.ndarray, model: str | None = None) -> None:
        """Records `embedding` as the image's vector for `model` (default: the encoder's)."""
        self.set_embeddings([digest], np.asarray(embedding, dtype=np.float32).reshape(1, -1), model)

    def set_embeddings(self, digests: Sequence[str], embeddings: np.ndarray,
                       model: str | None = None) -> None:
        """Many at once: one transaction, one append, one fsync (re-indexing, imports, benchmarks).
        Images that already have a vector for `model` keep it."""
        model = self._model(model)
        matrix = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if len(matrix) != len(digests):
            raise ValueError(f"{len(digests)} images but {len(matrix)} embeddings")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms > 0, norms, 1)
        with self._db.transaction("the images' embeddings could not be stored") as tx:
            have = self._embedded(tx, model, digests)
            fresh = [i for i, d in enumerate(digests) if d not in have]
            fresh = list({digests[i]: i for i in fresh}.values())  # a hash given twice: its last vector
            if not fresh:
                return
            vectors = self._vector_file(model, matrix.shape[1])
            # Under the write lock: no other process appends between our append and our insert.
            recorded = tx.execute("SELECT COALESCE(MAX(row) + 1, 0) FROM vectors WHERE model = ?",
                                  (model,)).fetchone()[0]
            if len(vectors) < recorded:  # the vector file lost rows (restored from a backup?)
                log.warning("%s has %d of %d rows; the rest will be embedded again",
                            vectors.path, len(vectors), recorded)
                tx.execute("DELETE FROM vectors WHERE model = ? AND row >= ?", (model, len(vectors)))
            vectors.truncate(min(len(vectors), recorded))
            rows = vectors.append(matrix[fresh])
            tx.executemany("INSERT INTO vectors(model, row, hash) VALUES (?, ?, ?)",
                           [(model, row, digests[i]) for row, i in zip(rows, fresh, strict=True)])
        self._writes += 1

    @staticmethod
    def _embedded(tx: sqlite3.Connection, model: str, digests: Sequence[str]) -> set[str]:
        if len(digests) > 500:  # one scan of the model's rows beats thousands of lookups
            return {h for (h,) in tx.execute("SELECT hash FROM vectors WHERE model = ?", (model,))}
        marks = ",".join("?" * len(digests))
        return {h for (h,) in tx.execute(
            f"SELECT hash FROM vectors WHERE model = ? AND hash IN ({marks})", (model, *digests))}

    def has_embedding(self, digest: str, model: str | None = None) -> bool:
        model = self._model(model)
        return bool(self._db.query("SELECT 1 FROM vectors WHERE model = ? AND hash = ?", (model, digest)))

    def unindexed(self, model: str | None = None) -> list[str]:
        """Images without an embedding for `model`: to embed after a new CLIP model is installed."""
        return [h for (h,) in self._db.query(
            "SELECT hash FROM images WHERE hash NOT IN (SELECT hash FROM vectors WHERE model = ?) "
            "ORDER BY added_at", (self._model(model),))]

    # --- reading ------------------------------------------------------------------------------------

    def path(self, digest: str) -> Path:
        """The kept copy of a stored image (KeyError for a hash the library does not hold)."""
        known = is_sha256(digest)
        rows = self._db.query("SELECT file FROM images WHERE hash = ?", (digest,)) if known else []
        if not rows:
            raise KeyError(digest)
        return self.data_dir / rows[0][0]

    def resolve(self, prefix: str) -> str:
        """The one stored hash that starts with `prefix` (as git resolves short commit ids)."""
        prefix = prefix.strip().lower()
        matches = self._db.query("SELECT hash FROM images WHERE substr(hash, 1, ?) = ? LIMIT 2",
                                 (len(prefix), prefix)) if prefix else []
        if len(matches) != 1:
            raise KeyError(f"no single stored image matches {prefix!r}")
        return str(matches[0][0])

    def uses(self, digest: str) -> tuple[ImageUse, ...]:
        rows = self._db.query("SELECT conversation_id, message_id FROM uses WHERE hash = ? "
                              "ORDER BY added_at, conversation_id, message_id", (digest,))
        return tuple(ImageUse(c, m) for c, m in rows)

    def in_use(self, digests: Sequence[str]) -> set[str]:
        """Those of `digests` that some conversation still shares (their kept files must stay)."""
        digests = list(digests)
        if not digests:
            return set()
        marks = ",".join("?" * len(digests))
        return {h for (h,) in self._db.query(f"SELECT DISTINCT hash FROM uses WHERE hash IN ({marks})",
                                             digests)}

    def __len__(self) -> int:
        return int(self._db.query("SELECT COUNT(*) FROM images")[0][0])

    # --- searching ----------------------------------------------------------------------------------

    def search_text(self, query: str, k: int = 10) -> list[ImageHit]:
        """Images that look like `query` ("a receipt from a restaurant"), best first."""
        if self.encoder is None:
            raise RuntimeError("text search needs an encoder")
        return self.search_vector(self.encoder.embed_texts([query])[0], k)

    def similar(self, digest: str, k: int = 10, *, model: str | None = None) -> list[ImageHit]:
        """Images most like the stored image `digest` (itself left out)."""
        model = self._model(model)
        index = self._index(model)
        if digest not in index.rows:
            raise KeyError(f"image {digest[:12]} has no embedding for {model}")
        vector = self._vectors[model].rows([index.rows[digest]])[0]
        return self.search_vector(vector, k, model=model, exclude=(digest,))

    def search_vector(self, query: np.ndarray, k: int = 10, *, model: str | None = None,
                      exclude: Sequence[str] = ()) -> list[ImageHit]:
        model = self._model(model)
        top = self.top_rows(query, k + len(exclude), model=model)
        hits = [(digest, score) for digest, score in top if digest not in exclude][:k]
        if not hits:
            return []
        marks = ",".join("?" * len(hits))
        digests = [d for d, _ in hits]
        files = dict(self._db.query(f"SELECT hash, file FROM images WHERE hash IN ({marks})", digests))
        uses: dict[str, list[ImageUse]] = {}
        for digest, conversation, message in self._db.query(
                f"SELECT hash, conversation_id, message_id FROM uses WHERE hash IN ({marks}) "
                "ORDER BY added_at, conversation_id, message_id", digests):
            uses.setdefault(digest, []).append(ImageUse(conversation, message))
        return [ImageHit(d, s, self.data_dir / files[d], tuple(uses.get(d, ()))) for d, s in hits
                if d in files]  # an image forgotten by another process since the scan is skipped

    def top_rows(self, query: np.ndarray, k: int, *, model: str | None = None) -> list[tuple[str, float]]:
        """(hash, cosine) of the `k` best rows: the scan itself, without file paths or uses."""
        model = self._model(model)
        index = self._index(model)
        if not index.alive.any() or k <= 0:
            return []
        matrix = self._vectors[model].matrix()
        count = min(len(matrix), len(index.alive))  # rows appended or cut since the index was read
        alive = index.alive[:count]
        scores = matrix[:count] @ _unit(np.asarray(query, dtype=np.float32).reshape(-1))
        scores[~alive] = -np.inf
        k = min(k, int(alive.sum()))
        if k <= 0:
            return []
        best = np.argpartition(scores, len(scores) - k)[len(scores) - k:]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(str(index.hashes[i]), float(scores[i])) for i in best]

    # --- forgetting ---------------------------------------------------------------------------------

    def forget_conversation(self, conversation_id: int) -> list[str]:
        """Drops the conversation's uses. Images no other conversation uses leave the library and their
        embeddings are zeroed on disk; their hashes are returned so that the caller, which knows the
        rest of the history, can delete the kept files (`assistant.images.kept`)."""
        with self._db.transaction("images of the deleted conversation could not be removed") as tx:
            tx.execute("DELETE FROM uses WHERE conversation_id = ?", (int(conversation_id),))
            orphans = [h for (h,) in tx.execute(
                "SELECT hash FROM images WHERE hash NOT IN (SELECT hash FROM uses)").fetchall()]
            rows = tx.execute(
                "SELECT model, row FROM vectors WHERE hash IN (SELECT hash FROM images WHERE hash NOT IN "
                "(SELECT hash FROM uses))").fetchall()
            tx.execute("DELETE FROM images WHERE hash NOT IN (SELECT hash FROM uses)")
            models = {m: (f, d) for m, f, d in tx.execute("SELECT model, file, dim FROM models").fetchall()}
        self._writes += 1
        by_model: dict[str, list[int]] = {}
        for model, row in rows:
            by_model.setdefault(model, []).append(row)
        for model, numbers in by_model.items():
            file, dim = models[model]
            VectorFile(self.root / file, dim).zero(numbers)
        return orphans

    # --- internals ----------------------------------------------------------------------------------

    def _model(self, model: str | None) -> str:
        if model:
            return model
        if self.encoder is None:
            raise RuntimeError("no CLIP model: pass model= or give the library an encoder")
        return self.encoder.fingerprint

    def _vector_file(self, model: str, dim: int) -> VectorFile:
        if model not in self._vectors:
            rows = self._db.conn.execute("SELECT dim, file FROM models WHERE model = ?", (model,)).fetchall()
            if rows:
                stored_dim, relative = rows[0]
            else:
                stored_dim, relative = dim, f"vectors/{_file_name(model)}.f32"
                self._db.conn.execute("INSERT INTO models(model, dim, file) VALUES (?, ?, ?)",
                                      (model, dim, relative))
            self._vectors[model] = VectorFile(self.root / relative, int(stored_dim))
        vectors = self._vectors[model]
        if vectors.dim != dim:
            raise StoreError(f"model {model} stored {vectors.dim}-value embeddings; got {dim} values")
        return vectors

    def _index(self, model: str) -> _Index:
        version = (self._writes, self._db.data_version)
        index = self._indexes.get(model)
        if index is not None and index.version == version:
            return index
        known = self._db.query("SELECT dim, file FROM models WHERE model = ?", (model,))
        if not known:
            index = _Index(version, np.empty(0, object), np.zeros(0, bool), {})
        else:
            if model not in self._vectors:
                self._vectors[model] = VectorFile(self.root / known[0][1], int(known[0][0]))
            count = len(self._vectors[model])
            pairs = self._db.query("SELECT row, hash FROM vectors WHERE model = ? AND row < ?",
                                   (model, count))
            hashes = np.full(count, None, dtype=object)
            for row, digest in pairs:
                hashes[row] = digest
            index = _Index(version, hashes, hashes != None, {d: r for r, d in pairs})  # noqa: E711
        self._indexes[model] = index
        return index


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _file_name(model: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)[:80]
    return f"{safe}-{hashlib.sha256(model.encode('utf-8')).hexdigest()[:8]}"
