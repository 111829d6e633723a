"""Attachments and groundings in the history file: stored with their question, migrated into, deleted.

Real SQLite files throughout; the "old" database is written with the version-1 schema and plain SQL,
the way an earlier version of the app left it on a user's disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from assistant.history import schema as store_schema
from assistant.history.store import Store, StoreError
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding

QUESTION = "What did the guest say about their first restaurant?"
TRANSCRIPT = "[00:00] Welcome to the show.\n[00:04] My first restaurant was a tiny quokkaburger stall."
PROMPT = f"Transcript of interview.mp3:\n<<<\n{TRANSCRIPT}\n>>>\n\nQuestion: {QUESTION}"
ATTACHMENT = Attachment("audio", "/home/ana/Recordings/interview.mp3", "interview.mp3", 4_200_000)
GROUNDINGS = (
    Grounding("transcript", "interview.mp3", TRANSCRIPT, sent=False),
    Grounding("summary", "interview.mp3", "Part 1: A stall.\n\nPart 2: Then a bistro.", parts=2),
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


def add_grounded(store: Store, chat: int) -> int:
    return store.add_message(
        chat, "user", QUESTION, prompt=PROMPT, attachments=[ATTACHMENT], groundings=GROUNDINGS
    )


def test_a_grounded_question_round_trips_through_the_file(db_path: Path) -> None:
    with Store(db_path) as store:
        chat = store.create_conversation("interview")
        plain = store.add_message(chat, "user", "Hello")
        grounded = add_grounded(store, chat)
        store.add_message(chat, "assistant", "It was a stall.")
    with Store(db_path) as reopened:
        first, second, answer = reopened.messages(chat)
    assert (first.id, first.prompt, first.attachments, first.groundings) == (plain, None, (), ())
    assert first.sent_text == "Hello"
    assert second.id == grounded and second.text == QUESTION
    assert second.prompt == PROMPT and second.sent_text == PROMPT
    assert second.attachments == (ATTACHMENT,)
    assert second.groundings == GROUNDINGS  # order, kinds, sent flags and part counts kept
    assert answer.attachments == () and answer.groundings == ()


def test_the_transcript_is_not_searched_but_the_question_is(db_path: Path) -> None:
    with Store(db_path) as store:
        chat = store.create_conversation("interview")
        add_grounded(store, chat)
        assert store.search("quokkaburger") == []  # only inside the transcript
        assert [hit.conversation_id for hit in store.search("first restaurant")] == [chat]


def test_a_question_is_never_stored_without_its_grounding(db_path: Path) -> None:
    with Store(db_path) as store:
        chat = store.create_conversation("interview")
        broken = Grounding("transcript", "interview.mp3", None)  # type: ignore[arg-type]  # NOT NULL
        with pytest.raises(StoreError):
            store.add_message(chat, "user", QUESTION, attachments=[ATTACHMENT], groundings=[broken])
        assert store.messages(chat) == []
        assert store.connection.execute("SELECT count(*) FROM attachments").fetchone()[0] == 0


def test_deleting_the_chat_removes_transcripts_from_every_file(db_path: Path) -> None:
    store = Store(db_path)
    keep = store.create_conversation("keep")
    store.add_message(keep, "user", "ordinary")
    chat = store.create_conversation("interview")
    add_grounded(store, chat)
    assert b"quokkaburger" in _raw_bytes(db_path)
    store.delete_conversation(chat)
    assert b"quokkaburger" not in _raw_bytes(db_path)
    assert b"Recordings/interview.mp3" not in _raw_bytes(db_path)
    count = store.connection.execute("SELECT count(*) FROM groundings").fetchone()[0]
    store.close()
    assert count == 0
    assert b"quokkaburger" not in _raw_bytes(db_path)


def write_version_1_file(path: Path) -> None:
    """What the previous release left: schema 1, and an `ask --audio` question with its transcript inline."""
    connection = sqlite3.connect(path, isolation_level=None)
    store_schema.MIGRATIONS[0](connection)
    connection.execute("PRAGMA user_version = 1")
    connection.execute("INSERT INTO conversations VALUES (1, 'old', 1, 2)")
    rows = [
        (1, 1, "user", PROMPT, "complete", None, "{}", 1.0),
        (2, 1, "assistant", "A tiny stall.", "complete", "smollm2", '{"completion_tokens": 4}', 2.0),
    ]
    connection.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    connection.close()


def test_a_version_1_file_is_upgraded_and_its_messages_read_as_before(db_path: Path) -> None:
    write_version_1_file(db_path)
    with Store(db_path) as store:
        assert store.schema_version == store_schema.latest_version() == 4
        question, answer = store.messages(1)
        # Old rows hold what was sent in `text` itself; they have nothing beside it.
        assert question.text == PROMPT and question.prompt is None and question.sent_text == PROMPT
        assert question.attachments == () and question.groundings == ()
        assert answer.timings == {"completion_tokens": 4} and answer.model == "smollm2"
        assert answer.sampling is None  # never recorded before schema 3
        assert [hit.message_id for hit in store.search("quokkaburger")] == [1]  # indexed as before
        # The old chat goes on with a grounded question of the new kind.
        add_grounded(store, 1)
        check = "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
        store.connection.execute(check)
    with Store(db_path) as again:
        assert again.connection.total_changes == 0  # opening an upgraded file writes nothing
        assert [m.groundings for m in again.messages(1)][-1] == GROUNDINGS


def test_a_failed_upgrade_leaves_the_version_1_file_untouched(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_version_1_file(db_path)

    upgrade = store_schema.MIGRATIONS[1]

    def full_disk(connection: sqlite3.Connection) -> None:
        upgrade(connection)  # every statement runs, then the disk fills up before the commit
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store_schema, "MIGRATIONS", [store_schema.MIGRATIONS[0], full_disk])
    with pytest.raises(StoreError, match="disk is full"):
        Store(db_path)
    monkeypatch.undo()
    connection = sqlite3.connect(db_path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 1
        columns = [row[1] for row in connection.execute("PRAGMA table_info(messages)")]
        assert "prompt" not in columns
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        assert "groundings" not in tables and "attachments" not in tables
        assert connection.execute("SELECT text FROM messages WHERE id = 1").fetchone()[0] == PROMPT
    finally:
        connection.close()


def test_history_kept_in_memory_carries_the_same_fields() -> None:
    """`ask --no-save` keeps the conversation in SQLite's memory: the same store, no file anywhere."""
    history = Store.in_memory()
    chat = history.create_conversation()
    history.add_message(
        chat, "user", QUESTION, prompt=PROMPT, attachments=[ATTACHMENT], groundings=GROUNDINGS
    )
    (message,) = history.messages(chat)
    assert (message.text, message.sent_text, message.attachments, message.groundings) == (
        QUESTION,
        PROMPT,
        (ATTACHMENT,),
        GROUNDINGS,
    )
    assert history.search(QUESTION.split()[0])  # the same search as a history file
    history.close()


def _raw_bytes(db_path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-journal", "-shm"):
        candidate = Path(f"{db_path}{suffix}")
        if candidate.exists():
            data += candidate.read_bytes()
    return data
