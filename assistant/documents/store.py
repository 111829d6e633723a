"""The documents library on disk: sources, files, passages, their FTS5 index and vectors, in one SQLite file.

Both processes open it: the window lists and removes sources (`documents.library`), the engine process
indexes and searches (`host/documents.py`). WAL mode lets one write while the other reads; a writer
waits up to `BUSY_TIMEOUT_MS` for the other's transaction (one file's passages at most).

Removing a source really removes its text and vectors, as the history does for a deleted chat:
`secure_delete` zeroes freed pages, the FTS5 index is merged ('optimize') so no old segment keeps the
words, and the WAL is checkpointed and truncated so no earlier copy of a page stays in the -wal file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from assistant.documents import schema
from assistant.documents.errors import DiskFull, DocumentsError
from assistant.documents.types import FileInfo, Locator, SourceInfo

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
CHECKPOINT_WAIT_MS = 300  # how long a removal's checkpoint waits for another process's read to end
# `reading.started` of a file being read again after the engine died once while reading it.
RETRIED = -1.0
FOLDER = "documents"
FILENAME = "documents.sqlite3"


def library_path(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER / FILENAME


def _wal_size(path: Path) -> int:
    try:
        return Path(f"{path}-wal").stat().st_size
    except OSError:
        return 0


@dataclass(frozen=True)
class FileRow:
    """What the library remembers of a file to decide whether it changed."""

    file_id: int
    source_id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str
    status: str
    kind: str


@dataclass(frozen=True)
class ChunkRow:
    """A passage as the indexer writes it (the store assigns its id)."""

    locator: Locator
    text: str


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: int
    path: str
    locator: Locator
    text: str


class DocumentStore:
    """One connection to the library; use it from one thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._deleted_in_wal = False  # a removal's text is still in the WAL (see `truncate_wal`)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            raise DocumentsError(f"The documents library ({self.path}) could not be opened: {error}"
                                 ) from error
        try:
            with self._guard("the documents library could not be opened"):
                self._configure()
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def open(cls, data_dir: Path) -> DocumentStore:
        return cls(library_path(data_dir))

    def _configure(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > schema.VERSION:
            raise DocumentsError(f"The documents library ({self.path}) was written by a newer version of the "
                                 "assistant; update it to use this library (the file was left untouched).")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # an index can be rebuilt; a commit per file stays cheap
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")  # removed passages are overwritten, not left in free pages
        conn.execute("PRAGMA temp_store = MEMORY")  # no temp file ever holds a copy of a passage
        if version < schema.VERSION:  # a new library (IF NOT EXISTS: another process may race us here)
            conn.executescript(
                f"BEGIN IMMEDIATE; {schema.SCHEMA} PRAGMA user_version = {schema.VERSION}; COMMIT;")
        if _wal_size(self.path):  # perhaps a removal another process's long read kept in the WAL
            self.truncate_wal(wait=False)

    def close(self) -> None:
        if self._deleted_in_wal:
            self.truncate_wal(wait=False)
        self._conn.close()

    def __enter__(self) -> DocumentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transactions and errors -------------------------------------------------------------------

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as error:
            if "full" in str(error).lower():
                raise DiskFull(f"The disk under the documents library is full ({self.path.parent}): "
                               "free some space; what was indexed before is kept.") from error
            if "locked" in str(error).lower() or "busy" in str(error).lower():
                raise DocumentsError(f"{what}: the library is busy (indexing runs); try again in a moment."
                                     ) from error
            raise DocumentsError(f"{what}: {error}") from error
        except sqlite3.DatabaseError as error:
            raise DocumentsError(f"{what} ({self.path}): {error}. Remove the file to start a new library."
                                 ) from error

    @contextmanager
    def _transaction(self, what: str = "the documents library could not be written"
                     ) -> Iterator[sqlite3.Connection]:
        with self._guard(what):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        if self._deleted_in_wal:  # a removal's text is still in the WAL: try again now
            self.truncate_wal(wait=False)

    def _bump(self, conn: sqlite3.Connection, *, reshaped: bool = True) -> None:
        """Passages or vectors changed: the engine's in-memory matrix is stale (`generation`).

        `reshaped=False`: the change only *added* vectors, each with a chunk id above every vector
        already stored, so the engine may read just those and append them; anything else (a removal, a
        replaced vector, passages moving to another source) is recorded in 'reshaped' and makes it read
        everything again. Chunk ids can be reused after the highest one is removed, which is why a
        removal can never count as an append."""
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
        if reshaped:
            conn.execute("INSERT INTO meta (key, value) SELECT 'reshaped', value FROM meta WHERE key = "
                         "'generation' ON CONFLICT (key) DO UPDATE SET value = excluded.value")

    def generation(self) -> int:
        return self.vector_state()[0]

    def vector_state(self) -> tuple[int, int]:
        """(generation, the generation of the last change that was not an append). A library written
        before 'reshaped' was kept has none: every change then counts as one."""
        with self._guard("the documents library could not be read"):
            values = dict(self._conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('generation', 'reshaped')").fetchall())
        generation = int(values["generation"])
        return generation, int(values.get("reshaped", generation))

    # ---- sources -----------------------------------------------------------------------------------

    def sources(self) -> list[SourceInfo]:
        with self._guard("the documents library could not be read"):
            rows = self._conn.execute(
                "SELECT s.id, s.path, s.is_folder, s.added_at, s.last_scan, "
                "  COALESCE(SUM(f.status = 'indexed'), 0), COALESCE(SUM(f.chunks), 0), "
                "  COALESCE(SUM(f.status = 'skipped'), 0) "
                "FROM sources s LEFT JOIN files f ON f.source_id = s.id GROUP BY s.id ORDER BY s.path"
            ).fetchall()
        return [SourceInfo(r[0], r[1], bool(r[2]), r[3], int(r[5]), int(r[6]), int(r[7]), r[4]) for r in rows]

    def insert_source(self, path: str, is_folder: bool, absorb: Sequence[int] = ()) -> int:
        """Adds a source; the sources in `absorb` (inside the new folder) hand it their files."""
        with self._transaction() as conn:
            source_id = conn.execute("INSERT INTO sources (path, is_folder, added_at) VALUES (?, ?, ?)",
                                     (path, int(is_folder), time.time())).lastrowid
            for old in absorb:
                conn.execute("UPDATE files SET source_id = ? WHERE source_id = ?", (source_id, old))
                conn.execute("DELETE FROM sources WHERE id = ?", (old,))
            if absorb:
                self._bump(conn)  # passages changed source: the engine's passage -> source map is stale
        assert source_id is not None
        return source_id

    def delete_source(self, source_id: int) -> bool:
        """Removes the source, its files, passages and vectors from the file and its WAL."""
        with self._transaction("the source could not be removed") as conn:
            # Chunks first and explicitly, so their FTS delete trigger surely runs for each.
            conn.execute("DELETE FROM chunks WHERE file_id IN (SELECT id FROM files WHERE source_id = ?)",
                         (source_id,))
            conn.execute("DELETE FROM files WHERE source_id = ?", (source_id,))
            gone = conn.execute("DELETE FROM sources WHERE id = ?", (source_id,)).rowcount > 0
            self._bump(conn)
            # An FTS5 delete adds a tombstone; 'optimize' rewrites the index into one new segment and
            # secure_delete zeroes the pages of the old ones, which held the removed words.
            conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")
        self.truncate_wal()
        return gone

    def set_scanned(self, source_id: int) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE sources SET last_scan = ? WHERE id = ?", (time.time(), source_id))

    def truncate_wal(self, wait: bool = True) -> None:
        """Copies the WAL into the main file and cuts it to zero bytes, so no old page survives there.

        A reader in another process (the engine loading vectors for a search) holds old pages in the
        WAL; SQLite waits for it a moment. Past that the removed text stays in the WAL, so
        this is tried again without waiting after each later write and at close, and by the next
        connection that opens the library (`_configure`): the engine opens it for every request."""
        try:
            # While it waits for readers the checkpoint holds the write lock (the indexer waits too),
            # so it waits briefly, or not at all on a retry.
            self._conn.execute(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS if wait else 0}")
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.Error:
            logger.exception("Checkpoint of %s failed", self.path)
            busy = 1
        self._deleted_in_wal = bool(busy)
        if busy and wait:
            logger.warning("A reader kept the WAL of %s busy; removed text stays there until the next "
                           "write or the next opening of the library", self.path)

    # ---- files -------------------------------------------------------------------------------------

    def files(self, source_id: int | None = None) -> list[FileInfo]:
        query = ("SELECT path, source_id, size, mtime_ns, status, reason, chunks, pages, kind, indexed_at "
                 "FROM files")
        args: tuple = ()
        if source_id is not None:
            query, args = query + " WHERE source_id = ?", (source_id,)
        with self._guard("the documents library could not be read"):
            rows = self._conn.execute(query + " ORDER BY path", args).fetchall()
        return [FileInfo(r[0], r[1], r[2], r[3] / 1e9, r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]

    def file_rows(self, source_id: int) -> dict[str, FileRow]:
        with self._guard("the documents library could not be read"):
            rows = self._conn.execute(
                "SELECT id, source_id, path, size, mtime_ns, sha256, status, kind FROM files "
                "WHERE source_id = ?", (source_id,)).fetchall()
        return {r[2]: FileRow(*r) for r in rows}

    def write_file(self, source_id: int, path: str, *, size: int, mtime_ns: int, sha256: str, kind: str,
                   chunks: Iterable[ChunkRow], pages: int = 0) -> int:
        """Replaces the file's passages with `chunks` in one transaction; returns how many.

        `chunks` may be a generator that reads the file: if it raises (the file changed while it was
        read, the disk filled up), nothing of this file changes.
        """
        with self._transaction() as conn:
            file_id = self._upsert_file(conn, source_id, path, size, mtime_ns, sha256, kind, "indexed", "")
            replaced = conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,)).rowcount > 0
            count = 0
            for count, chunk in enumerate(chunks, start=1):
                loc = chunk.locator
                conn.execute("INSERT INTO chunks (file_id, seq, page, heading, first_line, last_line, text) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (file_id, count, loc.page, loc.heading, loc.first_line, loc.last_line,
                              chunk.text))
            conn.execute("UPDATE files SET chunks = ?, pages = ? WHERE id = ?", (count, pages, file_id))
            self._bump(conn, reshaped=replaced)  # new passages have no vectors yet: nothing to reload
        return count

    def write_skipped(self, source_id: int, path: str, *, size: int, mtime_ns: int, sha256: str, kind: str,
                      reason: str) -> None:
        """Records why the file could not be read (so it is not retried until it changes)."""
        with self._transaction() as conn:
            file_id = self._upsert_file(conn, source_id, path, size, mtime_ns, sha256, kind, "skipped",
                                        reason)
            replaced = conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,)).rowcount > 0
            conn.execute("UPDATE files SET chunks = 0, pages = 0 WHERE id = ?", (file_id,))
            self._bump(conn, reshaped=replaced)

    def touch_file(self, file_id: int, size: int, mtime_ns: int) -> None:
        """The file's content is unchanged (same hash) though its mtime moved: remember the new stat."""
        with self._transaction() as conn:
            conn.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, file_id))

    def forget_files(self, file_ids: Sequence[int]) -> None:
        """Files gone from the disk: their passages and vectors go too (zeroed; the WAL is truncated)."""
        if not file_ids:
            return
        with self._transaction() as conn:
            for file_id in file_ids:
                conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
                conn.execute("DELETE FROM files WHERE id = ?", (file_id,))
            self._bump(conn)
            conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")
        self.truncate_wal()

    @staticmethod
    def _upsert_file(conn: sqlite3.Connection, source_id: int, path: str, size: int, mtime_ns: int,
                     sha256: str, kind: str, status: str, reason: str) -> int:
        row = conn.execute(
            "INSERT INTO files (source_id, path, size, mtime_ns, sha256, kind, status, reason, indexed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
            "source_id = excluded.source_id, size = excluded.size, mtime_ns = excluded.mtime_ns, "
            "sha256 = excluded.sha256, kind = excluded.kind, status = excluded.status, "
            "reason = excluded.reason, indexed_at = excluded.indexed_at RETURNING id",
            (source_id, path, size, mtime_ns, sha256, kind, status, reason, time.time())).fetchone()
        return int(row[0])

    def begin_reading(self, path: str) -> None:
        """Marks `path` as being parsed (committed first: it survives a crash of the engine). A mark left
        by an earlier crash stays as it is, so a file read again after one crash is known as such."""
        with self._transaction() as conn:
            conn.execute("INSERT INTO reading VALUES (?, ?) ON CONFLICT (path) DO NOTHING",
                         (path, time.time()))

    def end_reading(self, path: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM reading WHERE path = ?", (path,))

    def crashed_readings(self) -> list[tuple[str, bool]]:
        """Files whose parsing never ended (the engine died reading them), each with whether it had
        already been given its second chance (`retry_reading`) when the engine died again."""
        with self._guard("the documents library could not be read"):
            return [(r[0], r[1] == RETRIED) for r in self._conn.execute("SELECT path, started FROM reading")]

    def retry_reading(self, path: str) -> None:
        """The engine died once while `path` was read: it is read again, its mark kept as 'retried'."""
        with self._transaction() as conn:
            conn.execute("UPDATE reading SET started = ? WHERE path = ?", (RETRIED, path))

    # ---- passages and vectors ----------------------------------------------------------------------

    def chunk_count(self) -> int:
        with self._guard("the documents library could not be read"):
            return int(self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, StoredChunk]:
        found: dict[int, StoredChunk] = {}
        with self._guard("the documents library could not be read"):
            for start in range(0, len(chunk_ids), 500):
                part = list(chunk_ids[start:start + 500])
                marks = ",".join("?" * len(part))
                for r in self._conn.execute(
                        "SELECT c.id, f.path, c.page, c.heading, c.first_line, c.last_line, c.text "
                        f"FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})", part):
                    found[r[0]] = StoredChunk(r[0], r[1], Locator(r[2], r[3], r[4], r[5]), r[6])
        return found

    def unembedded_with_headings(self, model: str, limit: int, after: int = 0) -> list[tuple[int, str, str]]:
        """(id, text, heading) of passages without a vector of `model` (new ones, or all after a model
        change), oldest first, from the id `after` on (the last id of the previous batch: each batch
        then starts where the last one ended instead of stepping over every embedded passage again)."""
        with self._guard("the documents library could not be read"):
            return self._conn.execute(
                "SELECT c.id, c.text, c.heading FROM chunks c "
                "LEFT JOIN vectors v ON v.chunk_id = c.id AND v.model = ? "
                "WHERE v.chunk_id IS NULL AND c.id > ? ORDER BY c.id LIMIT ?", (model, after, limit)
            ).fetchall()

    def count_unembedded(self, model: str) -> int:
        with self._guard("the documents library could not be read"):
            return int(self._conn.execute(
                "SELECT COUNT(*) FROM chunks c LEFT JOIN vectors v ON v.chunk_id = c.id AND v.model = ? "
                "WHERE v.chunk_id IS NULL", (model,)).fetchone()[0])

    def add_vectors(self, model: str, rows: Sequence[tuple[int, bytes]]) -> int:
        """Stores vectors of passages that still exist (one removed meanwhile is skipped)."""
        with self._transaction() as conn:
            highest = conn.execute("SELECT MAX(chunk_id) FROM vectors").fetchone()[0]
            appended = highest is None or all(chunk_id > highest for chunk_id, _ in rows)
            added = 0
            for chunk_id, blob in rows:
                added += conn.execute(
                    "INSERT OR REPLACE INTO vectors (chunk_id, model, vector) "
                    "SELECT id, ?, ? FROM chunks WHERE id = ?", (model, blob, chunk_id)).rowcount
            self._bump(conn, reshaped=not appended)
        return added

    def drop_other_models(self, model: str) -> int:
        """Vectors of another embedding model are not comparable with the current one's: remove them."""
        with self._transaction() as conn:
            gone = conn.execute("DELETE FROM vectors WHERE model != ?", (model,)).rowcount
            if gone:
                self._bump(conn)
        return gone

    def iter_vectors(self, model: str, batch: int = 4096, after: int = -1
                     ) -> Iterator[list[tuple[int, bytes]]]:
        """The model's vectors in chunk order; `after`: only those of higher chunk ids (an append)."""
        with self._guard("the documents library could not be read"):
            cursor = self._conn.execute(
                "SELECT chunk_id, vector FROM vectors WHERE model = ? AND chunk_id > ? ORDER BY chunk_id",
                (model, after))
            while rows := cursor.fetchmany(batch):
                yield rows

    def chunk_sources(self) -> dict[int, int]:
        """chunk id -> source id, for searches limited to some sources."""
        with self._guard("the documents library could not be read"):
            return dict(self._conn.execute(
                "SELECT c.id, f.source_id FROM chunks c JOIN files f ON f.id = c.file_id").fetchall())

    def fts(self, match: str, limit: int, source_ids: Sequence[int] = ()) -> list[tuple[int, float]]:
        """(chunk id, bm25) best first for an FTS5 MATCH expression; bm25 is negative, lower is better."""
        query = "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
        args: list = [match]
        if source_ids:
            marks = ",".join("?" * len(source_ids))
            query += (f" AND rowid IN (SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id "
                      f"WHERE f.source_id IN ({marks}))")
            args += list(source_ids)
        with self._guard("the documents library could not be searched"):
            return self._conn.execute(query + " ORDER BY bm25(chunks_fts) LIMIT ?", (*args, limit)).fetchall()
