"""Schema of the history database and the ordered steps that bring an older file up to date.

`MIGRATIONS[n]` turns a schema-version-n file into a version-n+1 file. The store runs the pending steps
in one transaction and bumps `PRAGMA user_version` after each, so a crash or a full disk mid-migration
leaves the file exactly as it was. Never edit a step that has shipped: users' files already went through
it. Append a new step instead.

Each step executes its statements one by one rather than with `executescript`, because `executescript`
commits any open transaction first and would break the all-or-nothing promise above.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]

# Version 1: conversations, messages, and two external-content FTS5 indexes kept in sync by triggers.
# External content (rather than a copy of the text inside the FTS table) keeps each message stored once,
# so deleting the row really deletes the text; the triggers are the only writers of the indexes.
# `status` is checked in Python rather than with a CHECK constraint, so that a later version can add a
# status without rebuilding the messages table.
_V1_STATEMENTS = (
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )
    """,
    "CREATE INDEX conversations_by_updated ON conversations (updated_at DESC, id DESC)",
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        model TEXT,
        timings TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    )
    """,
    "CREATE INDEX messages_by_conversation ON messages (conversation_id, id)",
    # Partial index: start-up recovery finds the few 'streaming' rows without scanning the history.
    "CREATE INDEX messages_streaming ON messages (status) WHERE status = 'streaming'",
    # remove_diacritics 2: "cafe" finds "café", which is what people type into a search box.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        text, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
    END
    """,
    """
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END
    """,
    # Only text changes touch the index: status and timing updates stay a plain row update.
    """
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
    END
    """,
    """
    CREATE VIRTUAL TABLE conversations_fts USING fts5 (
        title, content = 'conversations', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO conversations_fts (rowid, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
        INSERT INTO conversations_fts (conversations_fts, rowid, title) VALUES ('delete', old.id, old.title);
    END
    """,
    """
    CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO conversations_fts (conversations_fts, rowid, title) VALUES ('delete', old.id, old.title);
        INSERT INTO conversations_fts (rowid, title) VALUES (new.id, new.title);
    END
    """,
)


def _v1_initial(connection: sqlite3.Connection) -> None:
    """Create the first schema in an empty (version 0) file."""
    for statement in _V1_STATEMENTS:
        connection.execute(statement)


# Version 2: what a question was grounded in (issues 4 and 5). `prompt` is the exact user message the
# model got when it differs from what the user typed (the transcript went with it), so a follow-up
# question sends the same history; NULL for every older row, whose text already is what was sent.
# The attached files and their groundings (transcript, summaries; later OCR text, labels) get their own
# tables, deleted with their message. They stay out of the full-text index: search finds what people
# wrote and read, and a long transcript would drown every search.
_V2_STATEMENTS = (
    "ALTER TABLE messages ADD COLUMN prompt TEXT",
    """
    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL
    )
    """,
    "CREATE INDEX attachments_by_message ON attachments (message_id, position)",
    """
    CREATE TABLE groundings (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        text TEXT NOT NULL,
        sent INTEGER NOT NULL DEFAULT 1,
        details TEXT NOT NULL DEFAULT '{}'
    )
    """,
    "CREATE INDEX groundings_by_message ON groundings (message_id, position)",
)


def _v2_groundings(connection: sqlite3.Connection) -> None:
    """Add the question's prompt, attachments and groundings; older messages keep working unchanged."""
    for statement in _V2_STATEMENTS:
        connection.execute(statement)


# Version 3: the sampling each answer was written with (issue 11), as JSON: temperature, top_k, top_p,
# min_p, repeat_penalty, seed, the task and the reason (`chat/sampling.py`). NULL for questions and for
# every older answer, whose sampling was never recorded (it was temperature 0.7 and one fixed seed).
def _v3_sampling(connection: sqlite3.Connection) -> None:
    """Add the answers' sampling record; older rows keep NULL."""
    connection.execute("ALTER TABLE messages ADD COLUMN sampling TEXT")


# Version 4: who writes a 'streaming' answer (`history/writers.py`), so the next process to open the
# history marks an answer 'interrupted' only when its writer died, never one another process still writes.
def _v4_writers(connection: sqlite3.Connection) -> None:
    """Add the writer of streaming answers; older rows keep NULL (no writer: abandoned)."""
    connection.execute("ALTER TABLE messages ADD COLUMN writer TEXT")


MIGRATIONS: list[Migration] = [_v1_initial, _v2_groundings, _v3_sampling, _v4_writers]


def latest_version() -> int:
    """The version this app writes: one per migration step (read at call time so tests can add steps)."""
    return len(MIGRATIONS)
