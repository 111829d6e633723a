"""The image library's SQLite file: which images exist, where each was shared, which vector row is whose.

A file of its own (``<data_dir>/image_library.sqlite3``) next to the history, with the same guarantees
as the history store: WAL, ``synchronous=FULL``, ``secure_delete``, explicit ``BEGIN IMMEDIATE``
transactions (which also serialise two processes appending to the same vector file), and every SQLite
error turned into a `StoreError` the user can act on. A damaged file is copied aside and opened read-only
with a message (`assistant.history.damage`), never written into or silently replaced.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from assistant.history import damage
from assistant.history.types import StoreError, user_message

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    hash TEXT PRIMARY KEY,            -- sha256 of the file's bytes
    file TEXT NOT NULL,               -- path relative to the library folder
    bytes INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uses (
    hash TEXT NOT NULL REFERENCES images(hash) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (hash, conversation_id, message_id)
);
CREATE INDEX IF NOT EXISTS uses_by_conversation ON uses(conversation_id);
CREATE TABLE IF NOT EXISTS models (
    model TEXT PRIMARY KEY,           -- ClipModel.fingerprint: name plus a digest of the weights
    dim INTEGER NOT NULL,
    file TEXT NOT NULL                -- the vector file, relative to the library folder
);
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL REFERENCES models(model) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    hash TEXT NOT NULL REFERENCES images(hash) ON DELETE CASCADE,
    PRIMARY KEY (model, row),
    UNIQUE (model, hash)
);
"""


class LibraryDb:
    """Rows only; files and vectors are handled by `assistant.library.image_library`. One thread at a time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Your image library folder could not be created ({self.path.parent}): "
                             f"{exc.strerror or exc}") from exc
        # Why the file is open read-only (it is damaged: `assistant.history.damage`); None: writable.
        self.damaged: str | None = None
        with self._guard("your image library could not be opened"):
            self.conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            with self._guard("your image library could not be opened"):
                found = self._configure()
        except BaseException:
            self.conn.close()
            raise
        if found is not None:
            self._open_damaged(found)

    def _configure(self) -> str | None:
        """Set the connection up; returns what is wrong when the file is damaged (nothing written then)."""
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 2000")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as error:
            if not damage.is_damage(error):
                raise
            return str(error)
        if (found := damage.problem(conn)) is not None:
            return found
        if version > SCHEMA_VERSION:
            raise StoreError(f"Your image library ({self.path}) was written by a newer version of the "
                             "assistant. Update the assistant to open it; the file was left untouched.")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        if version < SCHEMA_VERSION:
            with self.transaction("your image library could not be created") as tx:
                # One statement at a time: executescript would commit the open transaction first.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return None

    def _open_damaged(self, found: str) -> None:
        """Keep a copy of the damaged file and reopen it read-only; StoreError when nothing is readable."""
        log.error("Image library %s is damaged: %s", self.path, found)
        self.conn.close()
        copy = damage.backup(self.path)
        try:
            self.conn = damage.open_read_only(self.path)
            self.conn.execute("SELECT count(*) FROM images").fetchone()
        except sqlite3.Error as error:
            self.conn = sqlite3.connect(":memory:")  # so close() stays harmless
            raise StoreError(damage.damaged_message("image library", self.path, copy, readable=False)
                             ) from error
        self.damaged = damage.damaged_message("image library", self.path, copy, readable=True)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _guard(self, failure: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            log.warning("image library %s: %s: %r", self.path, failure, exc)
            if self.damaged is not None:
                raise StoreError(f"{failure[:1].upper()}{failure[1:]}: {self.damaged}") from exc
            raise StoreError(user_message(exc, failure, self.path)) from exc

    @contextmanager
    def transaction(self, failure: str) -> Iterator[sqlite3.Connection]:
        if self.damaged is not None:  # read-only: say why before anything is attempted
            raise StoreError(f"{failure[:1].upper()}{failure[1:]}: {self.damaged}")
        with self._guard(failure):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[object] = (), failure: str = "the image library could "
              "not be read") -> list[tuple]:
        with self._guard(failure):
            return self.conn.execute(sql, params).fetchall()

    @property
    def data_version(self) -> int:
        """Changes when another connection (another process) commits; cached indexes check it."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])
