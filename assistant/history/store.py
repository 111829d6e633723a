"""The chat history: conversations and messages in one SQLite file, with full-text search.

The GUI process owns exactly one `Store`, used from the GUI thread only, over one connection. Every
failure reaches the caller as `StoreError`, whose text is written for the user (what went wrong, with
which folder, and what to do), because the only sensible reaction in the UI is to show it.

Deleting a conversation really removes its text: `secure_delete` zeroes the freed database pages, the
full-text indexes are merged so no old segment keeps the words, and the WAL is checkpointed and truncated
so no earlier copy of a page stays in the -wal file (when another process's long read blocks that, it is
done after the next write, at close, or by the next process to open the history).

A damaged file is copied aside and opened read-only with a message (`assistant.history.damage`).

The value types and errors live in `assistant.history.types` and are re-exported here: import them from
this module.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from assistant.history import attachments as store_attachments
from assistant.history import damage, writers
from assistant.history import schema as store_schema
from assistant.history.types import (
    DEFAULT_TITLE,
    MATCH_END,
    MATCH_START,
    MESSAGE_STATUSES,
    TITLE_HIT,
    ConversationSummary,
    NotFoundError,
    SearchHit,
    StoredMessage,
    StoreError,
    fts_query,
    user_message,
)
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding

logger = logging.getLogger(__name__)

# A second copy of the app may hold the write lock briefly; wait a little, but not long enough to make
# the window feel frozen.
_BUSY_TIMEOUT_MS = 2000
# Opening waits longer: processes starting at the same moment on a new history (the window and `ask`)
# take turns creating the schema, each commit an fsync, on a busy machine well over 2 s in all (found
# by the reliability sweep, three processes opening one new history: "in use by another program").
_OPEN_BUSY_TIMEOUT_MS = 15000
# How long a delete's checkpoint waits for other processes' reads to end (see `Store._truncate_wal`).
_CHECKPOINT_WAIT_MS = 300


IN_MEMORY = Path(":memory:")  # SQLite's name for a database that lives in this connection only


class Store:
    """Conversations and messages in one SQLite file; see the module docstring for the guarantees."""

    @classmethod
    def in_memory(cls, *, clock: Callable[[], float] = time.time) -> Store:
        """The same store with no file: this run's history only (`ask --no-save`, or a history file
        that could not be opened: the window still answers)."""
        return cls(IN_MEMORY, clock=clock)

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = Path(path)
        self._clock = clock
        try:
            if self._path != IN_MEMORY:
                self._path.parent.mkdir(parents=True, exist_ok=True)
        except PermissionError as exc:
            raise StoreError(
                f"Your history folder is read-only ({self._path.parent}): it could not be created. "
                "Choose a folder you may write to."
            ) from exc
        except OSError as exc:
            raise StoreError(
                f"Your history folder could not be created ({self._path.parent}): {exc}"
            ) from exc
        # Why the file is open read-only (it is damaged), for the window and the CLI to show; None: writable.
        self.damaged: str | None = None
        self._deleted_in_wal = False  # a delete's text is still in the WAL (see `_truncate_wal`)
        with self._guard("your history could not be opened"):
            # Autocommit mode: transactions are opened explicitly, so it is always clear what is atomic.
            self._conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            with self._guard("your history could not be opened"):
                found = self._configure()
                if found is None:
                    self._migrate()
        except BaseException:
            self._conn.close()
            raise
        if found is not None:
            self._open_damaged(found)
            return
        if self._path != IN_MEMORY and _wal_size(self._path):
            # Perhaps a delete whose checkpoint another process's long read blocked (`_truncate_wal`),
            # in a process that has ended since: whoever opens the history next finishes it.
            self._deleted_in_wal = True
            self._finish_delete()
        try:  # answers whose writer was killed: whoever opens the history next marks them
            self.mark_unfinished_interrupted()
        except StoreError as error:  # a read-only history still opens; the rows stay as they are
            logger.warning("Could not mark unfinished answers: %s", error)
        self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")

    def _configure(self) -> str | None:
        """Set the connection up; returns what is wrong when the file is damaged (nothing written then)."""
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {_OPEN_BUSY_TIMEOUT_MS}")  # back to 2 s once open
        try:
            # Before anything that could write the file header: a newer app's file is left untouched.
            self._refuse_newer(self.schema_version)
        except sqlite3.DatabaseError as error:
            if not damage.is_damage(error):
                raise
            return str(error)  # not a database at all
        if self._path != IN_MEMORY and (found := damage.problem(conn)) is not None:
            return found  # before WAL mode or a migration writes anything into the damaged file
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal" and self._path != IN_MEMORY:
            logger.warning("History %s is in %s mode, not WAL (unsupported filesystem?)", self._path, mode)
        # FULL rather than NORMAL: in WAL mode NORMAL survives a crashed app but may lose the last commits
        # on power loss. FULL costs one fsync per commit, and we commit a few times a second at most.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted text is overwritten with zeros instead of lingering in free pages.
        conn.execute("PRAGMA secure_delete = ON")
        # Sorts and index merges stay in memory, so no stray temp file ever holds a copy of the history.
        conn.execute("PRAGMA temp_store = MEMORY")
        return None

    def _open_damaged(self, found: str) -> None:
        """Keep a copy of the damaged file and reopen it read-only; StoreError when nothing is readable."""
        logger.error("History %s is damaged: %s", self._path, found)
        self._conn.close()
        copy = damage.backup(self._path)
        try:
            self._conn = damage.open_read_only(self._path)
            self._conn.execute("SELECT count(*) FROM conversations").fetchone()
        except sqlite3.Error as error:
            logger.error("The damaged history %s cannot be read: %r", self._path, error)
            self._conn = sqlite3.connect(":memory:")  # so close() stays harmless
            raise StoreError(damage.damaged_message("history", self._path, copy, readable=False)) from error
        self.damaged = damage.damaged_message("history", self._path, copy, readable=True)

    def _refuse_newer(self, version: int) -> None:
        latest = store_schema.latest_version()
        if version > latest:
            raise StoreError(
                f"Your history ({self._path}) was written by a newer version of the assistant "
                f"(schema {version}; this version understands up to {latest}). "
                "Update the assistant to open it; the file was left untouched."
            )

    def _migrate(self) -> None:
        if self.schema_version == store_schema.latest_version():
            return  # the common case: no lock taken, nothing written
        with self._transaction("your history could not be upgraded") as conn:
            current = self.schema_version  # re-read under the write lock: another copy may have migrated
            self._refuse_newer(current)
            for version in range(current, store_schema.latest_version()):
                logger.info("Upgrading history %s from schema %d to %d", self._path, version, version + 1)
                store_schema.MIGRATIONS[version](conn)
                conn.execute(f"PRAGMA user_version = {version + 1}")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def connection(self) -> sqlite3.Connection:
        """The live connection, for tests and diagnostics; the app itself goes through the methods."""
        return self._conn

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        """Close the connection (idempotent); SQLite checkpoints the WAL into the main file on close.

        No `PRAGMA optimize` here: on builds with STAT4 it would sample index keys (including full-text
        terms) into sqlite_stat4, where deleted words could outlive their messages.
        """
        if getattr(self, "_deleted_in_wal", False) and self.damaged is None:
            try:
                self._finish_delete()
            except sqlite3.Error:
                logger.exception("Checkpoint at close failed on %s", self._path)
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _guard(self, failure: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            logger.warning("History %s: %s: %r", self._path, failure, exc)
            if self.damaged is not None:  # read-only because damaged: say that, not "folder read-only"
                raise StoreError(f"{_sentence(failure)}: {self.damaged}") from exc
            if self._path != IN_MEMORY and damage.is_damage(exc) and hasattr(self, "_conn"):
                # Damage found while running: stop writing into the file, as if it had been found at open.
                self._open_damaged(str(exc))
                raise StoreError(f"{_sentence(failure)}: {self.damaged}") from exc
            raise StoreError(user_message(exc, failure, self._path)) from exc

    @contextmanager
    def _transaction(self, failure: str) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes; IMMEDIATE takes the write lock up front so a commit never finds it busy."""
        with self._guard(failure):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                    try:
                        self._conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        logger.exception("Rollback failed on %s", self._path)
                raise

    # Conversations

    def create_conversation(self, title: str = DEFAULT_TITLE) -> int:
        now = self._clock()
        with self._guard("the new chat could not be created"):
            cursor = self._conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                (_clean_title(title), now, now),
            )
        self._finish_delete()
        return int(cursor.lastrowid or 0)

    _SUMMARY_SQL = """
        SELECT c.id, c.title, c.created_at, c.updated_at,
               (SELECT count(*) FROM messages AS m WHERE m.conversation_id = c.id)
        FROM conversations AS c
    """

    def list_conversations(self) -> list[ConversationSummary]:
        """Newest activity first (ties: newest created first)."""
        with self._guard("your history could not be read"):
            rows = self._conn.execute(self._SUMMARY_SQL + " ORDER BY c.updated_at DESC, c.id DESC").fetchall()
        return [ConversationSummary(*row) for row in rows]

    def get_conversation(self, conversation_id: int) -> ConversationSummary:
        with self._guard("your history could not be read"):
            row = self._conn.execute(self._SUMMARY_SQL + " WHERE c.id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise NotFoundError("That chat no longer exists: it may have been deleted.")
        return ConversationSummary(*row)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        """Renaming does not move the chat in the list: only new messages count as activity."""
        with self._guard("the chat could not be renamed"):
            cursor = self._conn.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", (_clean_title(title), conversation_id)
            )
        if cursor.rowcount == 0:
            raise NotFoundError("That chat no longer exists: it may have been deleted.")

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete the chat and its messages so that their text is gone from every file (idempotent)."""
        with self._transaction("the chat could not be deleted") as conn:
            # Messages first and explicitly, so their FTS delete triggers surely run.
            conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            if conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount == 0:
                logger.debug("Chat %d was already deleted", conversation_id)
                return
            # An FTS5 delete only adds a tombstone; the words stay in older index segments until a merge.
            # 'optimize' merges everything into one new segment, and secure_delete zeroes the old ones.
            conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
            conn.execute("INSERT INTO conversations_fts (conversations_fts) VALUES ('optimize')")
        self._truncate_wal()

    def _truncate_wal(self, wait: bool = True) -> None:
        """Copy the WAL into the main file and cut it to zero bytes, so no old page survives there.

        Another process reading the history right then (the other window, `ask`) holds old pages in
        the WAL; SQLite waits for it a moment. A longer read leaves the deleted text in the WAL, so it
        is tried again, without waiting, after each later write, at close and by the next process that
        opens the history (`_finish_delete`), until it succeeds."""
        try:
            # While it waits for readers the checkpoint holds the write lock: other writers wait too.
            # So it waits briefly (not the 2 s a write may), or not at all on a retry.
            self._conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_WAIT_MS if wait else 0}")
            try:
                busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        except sqlite3.Error:
            logger.exception("Checkpoint after delete failed on %s", self._path)
            busy = 1  # the delete itself is committed; a later write tries again
        self._deleted_in_wal = bool(busy)
        if busy and wait:
            logger.warning("Another reader kept the WAL of %s busy; deleted text stays there until the "
                           "next write after it is done", self._path)

    def _finish_delete(self) -> None:
        """After a write: cut the WAL now if a delete could not (see `_truncate_wal`)."""
        if self._deleted_in_wal:
            self._truncate_wal(wait=False)
            if not self._deleted_in_wal:
                logger.info("Deleted text is now gone from the WAL of %s too", self._path)

    # Messages

    def add_message(
        self,
        conversation_id: int,
        role: str,
        text: str,
        status: str = "complete",
        model: str | None = None,
        timings: dict | None = None,
        *,
        prompt: str | None = None,
        attachments: Sequence[Attachment] = (),
        groundings: Sequence[Grounding] = (),
    ) -> int:
        """Append a message and mark the chat as just active (it moves to the top of the list).

        The message, its attachments and its groundings are written in one transaction: a question is
        never stored without what it was grounded in.
        """
        _check_status(status)
        now = self._clock()
        with self._transaction("the message could not be saved") as conn:
            touched = conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
            if touched.rowcount == 0:
                raise NotFoundError("That chat no longer exists: the message could not be saved.")
            writer = writers.this_process() if status == "streaming" else None
            cursor = conn.execute(
                "INSERT INTO messages"
                " (conversation_id, role, text, status, model, timings, created_at, prompt, writer)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, text, status, model, _dump_timings(timings), now, prompt, writer),
            )
            message_id = int(cursor.lastrowid or 0)
            store_attachments.insert(conn, message_id, attachments, groundings)
        self._finish_delete()
        return message_id

    def update_message(
        self,
        message_id: int,
        *,
        text: str | None = None,
        status: str | None = None,
        timings: dict | None = None,
        sampling: dict | None = None,
    ) -> None:
        """Change what was given; one UPDATE statement, cheap enough to run every second while streaming."""
        assignments: list[str] = []
        values: list[object] = []
        if text is not None:
            assignments.append("text = ?")
            values.append(text)
        if status is not None:
            _check_status(status)
            assignments.append("status = ?")
            values.append(status)
        if timings is not None:
            assignments.append("timings = ?")
            values.append(_dump_timings(timings))
        if sampling is not None:
            assignments.append("sampling = ?")
            values.append(_dump_timings(sampling))
        if not assignments:
            return
        with self._guard("the message could not be saved"):
            cursor = self._conn.execute(
                f"UPDATE messages SET {', '.join(assignments)} WHERE id = ?", (*values, message_id)
            )
        if cursor.rowcount == 0:
            raise NotFoundError("That message no longer exists: it may have been deleted with its chat.")
        self._finish_delete()

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """The chat's messages in the order they were added, with their attachments and groundings."""
        with self._guard("your history could not be read"):
            rows = self._conn.execute(
                "SELECT id, conversation_id, role, text, status, model, timings, created_at, prompt, sampling"
                " FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
            attachments = store_attachments.attachments_of(self._conn, conversation_id)
            groundings = store_attachments.groundings_of(self._conn, conversation_id)
        return [
            StoredMessage(
                *row[:6],
                _load_timings(row[6], row[0]),
                row[7],
                prompt=row[8],
                sampling=_load_timings(row[9], row[0]) if row[9] is not None else None,
                attachments=tuple(attachments.get(row[0], ())),
                groundings=tuple(groundings.get(row[0], ())),
            )
            for row in rows
        ]

    def image_hashes(self, conversation_id: int | None = None) -> set[str]:
        """The kept images (by sha256) the chat's messages show; every chat's when None. Deleting a
        chat deletes only the kept files no remaining message shows (`assistant.library.cleanup`)."""
        with self._guard("your history could not be read"):
            return store_attachments.image_hashes(self._conn, conversation_id)

    def mark_unfinished_interrupted(self) -> int:
        """Answers left 'streaming' by a process that has ended (killed, crashed) become 'interrupted';
        an answer another live process is still writing is left alone. Every process that opens the
        history does this (the window and `ask` alike). Returns how many were marked."""
        with self._guard("unfinished answers could not be marked as interrupted"):
            rows = self._conn.execute(
                "SELECT id, writer FROM messages WHERE status = 'streaming'").fetchall()
            abandoned = [(row_id,) for row_id, writer in rows if not writers.is_alive(writer)]
            if abandoned:
                self._conn.executemany(
                    "UPDATE messages SET status = 'interrupted' WHERE id = ? AND status = 'streaming'",
                    abandoned)
        if abandoned:
            logger.info("Marked %d unfinished answers as interrupted", len(abandoned))
        return len(abandoned)

    # Search

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Chats whose title matches first, then messages, each best match first; any input is safe."""
        match = fts_query(query)
        if match is None or limit <= 0:
            return []
        with self._guard("your history could not be searched"):
            titles = self._conn.execute(
                "SELECT c.id, c.title, snippet(conversations_fts, 0, ?, ?, '…', 12)"
                " FROM conversations_fts JOIN conversations AS c ON c.id = conversations_fts.rowid"
                " WHERE conversations_fts MATCH ? ORDER BY rank LIMIT ?",
                (MATCH_START, MATCH_END, match, limit),
            ).fetchall()
            found = self._conn.execute(
                "SELECT m.conversation_id, m.id, c.title, snippet(messages_fts, 0, ?, ?, '…', 12)"
                " FROM messages_fts JOIN messages AS m ON m.id = messages_fts.rowid"
                " JOIN conversations AS c ON c.id = m.conversation_id"
                " WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?",
                (MATCH_START, MATCH_END, match, limit - len(titles)),
            ).fetchall()
        hits = [SearchHit(cid, TITLE_HIT, title, snippet) for cid, title, snippet in titles]
        return hits + [SearchHit(*row) for row in found]


def _wal_size(path: Path) -> int:
    try:
        return Path(f"{path}-wal").stat().st_size
    except OSError:
        return 0


def _sentence(failure: str) -> str:
    return failure[:1].upper() + failure[1:]


def _clean_title(title: str) -> str:
    """One line, no stray spaces, never empty (an empty row in the sidebar cannot be clicked)."""
    return " ".join(title.split()) or DEFAULT_TITLE


def _check_status(status: str) -> None:
    if status not in MESSAGE_STATUSES:
        raise ValueError(f"unknown message status {status!r}; expected one of {MESSAGE_STATUSES}")


def _dump_timings(timings: dict | None) -> str:
    return json.dumps(timings or {}, sort_keys=True)


def _load_timings(text: str, message_id: int) -> dict:
    """A damaged timings (or sampling) field must not hide the message itself."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        logger.warning("Message %d has an unreadable JSON field %r", message_id, text)
        return {}
    return value if isinstance(value, dict) else {}
