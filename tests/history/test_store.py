"""The history store against real SQLite files: schema, search, secure delete, errors, crash durability."""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assistant.history import schema as store_schema
from assistant.history import writers
from assistant.history.store import (
    MATCH_END,
    MATCH_START,
    MESSAGE_STATUSES,
    TITLE_HIT,
    NotFoundError,
    Store,
    StoreError,
    fts_query,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    """Strictly increasing time, so ordering by time is deterministic."""

    def __init__(self) -> None:
        self._ticks = itertools.count(1_700_000_000)

    def __call__(self) -> float:
        return float(next(self._ticks))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "history" / "history.sqlite3"


@pytest.fixture
def store(db_path: Path):
    with Store(db_path, clock=FakeClock()) as opened:
        yield opened


def fts_integrity(store: Store) -> None:
    """FTS5's own check that the indexes agree with the content tables (raises if not)."""
    for table in ("messages_fts", "conversations_fts"):
        store.connection.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")


# Conversations and messages


def test_conversations_are_listed_newest_activity_first(store: Store) -> None:
    first = store.create_conversation("First")
    second = store.create_conversation()
    assert [c.id for c in store.list_conversations()] == [second, first]
    store.add_message(first, "user", "hello")
    summaries = store.list_conversations()
    assert [c.id for c in summaries] == [first, second]
    assert summaries[0].title == "First" and summaries[0].message_count == 1
    assert summaries[1].title == "New chat" and summaries[1].message_count == 0
    assert summaries[0].updated_at > summaries[0].created_at


def test_rename_cleans_the_title_and_does_not_reorder(store: Store) -> None:
    first = store.create_conversation("a")
    second = store.create_conversation("b")
    store.rename_conversation(first, "  Trip\n to   Lisbon ")
    assert store.get_conversation(first).title == "Trip to Lisbon"
    store.rename_conversation(first, "   ")
    assert store.get_conversation(first).title == "New chat"
    assert [c.id for c in store.list_conversations()] == [second, first]


def test_messages_round_trip_in_order(store: Store) -> None:
    chat = store.create_conversation()
    asked = store.add_message(chat, "user", "What is 2+2?")
    answered = store.add_message(
        chat, "assistant", "", status="streaming", model="qwen", timings={"prompt_s": 0.5}
    )
    store.update_message(answered, text="4")
    store.update_message(answered, text="4.", status="complete", timings={"prompt_s": 0.5, "tokens": 2})
    messages = store.messages(chat)
    assert [m.id for m in messages] == [asked, answered]
    assert messages[0].role == "user" and messages[0].model is None and messages[0].timings == {}
    last = messages[1]
    assert (last.text, last.status, last.model) == ("4.", "complete", "qwen")
    assert last.timings == {"prompt_s": 0.5, "tokens": 2}
    assert last.conversation_id == chat and last.created_at > 0


def test_update_with_nothing_to_change_is_a_no_op(store: Store) -> None:
    chat = store.create_conversation()
    message = store.add_message(chat, "user", "hi")
    store.update_message(message)
    assert store.messages(chat)[0].text == "hi"


def test_unknown_status_is_a_programming_error(store: Store) -> None:
    chat = store.create_conversation()
    with pytest.raises(ValueError, match="status"):
        store.add_message(chat, "user", "hi", status="done")
    message = store.add_message(chat, "user", "hi")
    with pytest.raises(ValueError):
        store.update_message(message, status="bogus")
    assert set(MESSAGE_STATUSES) == {"streaming", "complete", "stopped", "interrupted", "failed"}


def test_missing_rows_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_conversation(42)
    with pytest.raises(NotFoundError):
        store.rename_conversation(42, "x")
    with pytest.raises(NotFoundError):
        store.add_message(42, "user", "orphan")
    with pytest.raises(NotFoundError):
        store.update_message(42, text="x")
    assert isinstance(NotFoundError("x"), LookupError)
    store.delete_conversation(42)  # deleting what is gone is fine
    assert store.connection.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_delete_removes_messages_and_keeps_other_chats(store: Store) -> None:
    keep = store.create_conversation("keep")
    drop = store.create_conversation("drop")
    store.add_message(keep, "user", "kept words")
    store.add_message(drop, "user", "dropped words")
    store.delete_conversation(drop)
    assert [c.id for c in store.list_conversations()] == [keep]
    assert store.messages(drop) == []
    assert [m.text for m in store.messages(keep)] == ["kept words"]
    fts_integrity(store)


WRITER = """
import sys
from pathlib import Path
from assistant.history.store import Store
store = Store(Path(sys.argv[1]))
chat = store.create_conversation()
store.add_message(chat, "assistant", "half an answer", status="streaming")
print("written", flush=True)
sys.stdin.readline()  # stays alive (writing, as far as anyone can tell) until told or killed
"""


def test_an_answer_is_marked_interrupted_only_once_its_writer_is_gone(db_path: Path) -> None:
    """A second process (the window beside a running `ask`) must leave a live writer's answer alone;
    the next process to open the history after the writer was killed marks it."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "written"
        with Store(db_path) as other:  # opening marks abandoned answers: this one is not abandoned
            (chat,) = other.list_conversations()
            assert [m.status for m in other.messages(chat.id)] == ["streaming"]
            assert other.mark_unfinished_interrupted() == 0
        writer.kill()  # kill -9: the writer never writes a final status
        writer.wait(timeout=30)
        with Store(db_path) as reopened:
            assert [m.status for m in reopened.messages(chat.id)] == ["interrupted"]
            assert reopened.mark_unfinished_interrupted() == 0
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(timeout=30)


def test_answers_of_this_process_and_of_no_known_writer(store: Store) -> None:
    chat = store.create_conversation()
    done = store.add_message(chat, "assistant", "done")
    mine = store.add_message(chat, "assistant", "being written", status="streaming")
    old = store.add_message(chat, "assistant", "half an ans", status="streaming")
    # A row from before writers were recorded (schema 3), or whose process id was reused by another
    # process (same id, other start time), has nobody writing it.
    store.connection.execute("UPDATE messages SET writer = NULL WHERE id = ?", (old,))
    recycled = store.add_message(chat, "assistant", "someone else's", status="streaming")
    token = writers.this_process().rsplit("|", 1)[0] + "|1"
    store.connection.execute("UPDATE messages SET writer = ? WHERE id = ?", (token, recycled))
    assert store.mark_unfinished_interrupted() == 2
    statuses = {m.id: m.status for m in store.messages(chat)}
    assert statuses == {done: "complete", mine: "streaming", old: "interrupted", recycled: "interrupted"}


def test_close_is_idempotent(db_path: Path) -> None:
    opened = Store(db_path)
    opened.close()
    opened.close()


# Schema and migrations


def test_fresh_file_is_configured_and_at_the_latest_schema(store: Store, db_path: Path) -> None:
    conn = store.connection
    assert store.schema_version == store_schema.latest_version() >= 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db_path.parent.is_dir()


def test_migrates_an_empty_version_0_file_and_reopening_is_a_no_op(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    sqlite3.connect(db_path).close()  # an existing, empty file at user_version 0
    with Store(db_path) as first:
        assert first.schema_version == store_schema.latest_version()
        tables = {row[0] for row in first.connection.execute("SELECT name FROM sqlite_master")}
        assert {"conversations", "messages", "messages_fts", "conversations_fts"} <= tables
        chat = first.create_conversation("kept")
    with Store(db_path) as again:
        assert again.connection.total_changes == 0  # nothing was rewritten
        assert again.schema_version == store_schema.latest_version()
        assert again.get_conversation(chat).title == "kept"


def test_a_new_migration_step_runs_once_in_order(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db_path) as old:
        chat = old.create_conversation("before")
    calls: list[int] = []

    def add_pinned(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    shipped = store_schema.latest_version()
    monkeypatch.setattr(store_schema, "MIGRATIONS", [*store_schema.MIGRATIONS, add_pinned])
    with Store(db_path) as upgraded:
        assert upgraded.schema_version == shipped + 1
        assert upgraded.connection.execute(
            "SELECT pinned FROM conversations WHERE id = ?", (chat,)
        ).fetchone()
    with Store(db_path):
        pass
    assert calls == [1]


def test_a_failing_migration_leaves_the_file_as_it_was(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(db_path) as old:
        chat = old.create_conversation("before")

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store_schema, "MIGRATIONS", [*store_schema.MIGRATIONS, half_done])
    with pytest.raises(StoreError, match="Your disk is full"):
        Store(db_path)
    monkeypatch.undo()
    with Store(db_path) as reopened:
        assert reopened.schema_version == store_schema.latest_version()
        assert reopened.get_conversation(chat).title == "before"
        names = {row[0] for row in reopened.connection.execute("SELECT name FROM sqlite_master")}
        assert "half" not in names


def test_a_file_from_a_newer_app_is_refused_and_untouched(db_path: Path) -> None:
    with Store(db_path) as current:
        current.create_conversation("from the future")
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {store_schema.latest_version() + 1}")
    conn.close()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match="newer version of the assistant") as raised:
        Store(db_path)
    assert str(db_path) in str(raised.value)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_a_file_that_is_not_a_database_is_explained(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite, just some text a user saved here" * 100)
    with pytest.raises(StoreError, match=r"is damaged.*left untouched.*copy of it") as raised:
        Store(db_path)
    copies = list(db_path.parent.glob("history.sqlite3.damaged-*"))
    assert len(copies) == 1 and copies[0].name in str(raised.value)
    assert copies[0].read_bytes() == db_path.read_bytes()  # kept as it was, and so was the original


# Search


def test_search_by_word_prefix_title_and_after_changes(store: Store) -> None:
    chat = store.create_conversation("Holiday planning")
    other = store.create_conversation("Groceries")
    asked = store.add_message(chat, "user", "Which trains go from Lisbon to Porto?")
    answer = store.add_message(chat, "assistant", "", status="streaming")
    store.update_message(answer, text="The Alfa Pendular is fastest.")
    store.add_message(other, "user", "milk, eggs and bread")

    hits = store.search("lisbon")
    assert [(h.conversation_id, h.message_id) for h in hits] == [(chat, asked)]
    assert f"{MATCH_START}Lisbon{MATCH_END}" in hits[0].snippet and hits[0].title == "Holiday planning"
    assert [h.message_id for h in store.search("pendu")] == [answer]  # prefix on the last word
    assert [h.message_id for h in store.search("trains porto")] == [asked]  # all words must match
    assert store.search("trains milk") == []

    title_hits = store.search("holiday")
    assert [(h.conversation_id, h.message_id) for h in title_hits] == [(chat, TITLE_HIT)]
    assert MATCH_START in title_hits[0].snippet

    store.update_message(answer, text="Take the Intercidades instead.")
    assert store.search("pendular") == []
    assert [h.message_id for h in store.search("intercidades")] == [answer]
    store.rename_conversation(chat, "Portugal")
    assert store.search("holiday") == []

    store.delete_conversation(chat)
    assert store.search("lisbon") == [] and store.search("intercidades") == []
    assert [h.conversation_id for h in store.search("eggs")] == [other]
    fts_integrity(store)


def test_search_ignores_accents_and_case(store: Store) -> None:
    chat = store.create_conversation()
    message = store.add_message(chat, "user", "Un CAFÉ crème")
    assert [h.message_id for h in store.search("cafe creme")] == [message]


def test_search_limit(store: Store) -> None:
    chat = store.create_conversation("notes")
    for index in range(5):
        store.add_message(chat, "user", f"note number {index}")
    assert len(store.search("note", limit=3)) == 3
    assert len(store.search("notes", limit=1)) == 1
    assert store.search("note", limit=0) == []


@pytest.mark.parametrize(
    "hostile",
    [
        '"foo',
        "AND OR (",
        "NOT",
        "NEAR(a b",
        "*",
        "foo*bar",
        "^start",
        "title:foo",
        "-minus",
        "a + b",
        "'; DROP TABLE messages; --",
        '"" ""',
        "   ",
        "",
        "___",
        "\x00\x01",
        "{col}",
        "😀 emoji",
        "word " * 200,
    ],
)
def test_hostile_queries_never_raise(store: Store, hostile: str) -> None:
    chat = store.create_conversation("foo title")
    store.add_message(chat, "user", "foo bar start minus word")
    assert isinstance(store.search(hostile), list)
    assert store.connection.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('say "hello" AND (bye') == '"say" "hello" "AND" "bye"*'
    assert fts_query(" ?! ") is None


# Secure delete


def test_deleted_text_is_gone_from_the_database_and_wal_files(db_path: Path) -> None:
    secret_words = ["zanzibarquokka", "plumbobsecret", "titlexylophone"]
    store = Store(db_path)
    keep = store.create_conversation("keep me")
    store.add_message(keep, "user", "ordinary text that stays")
    chat = store.create_conversation("Plans titlexylophone")
    store.add_message(chat, "user", "my password is zanzibarquokka, do not tell")
    streamed = store.add_message(chat, "assistant", "", status="streaming")
    for part in range(1, 6):  # many versions of the row and of its index entries, as while streaming
        store.update_message(streamed, text="plumbobsecret " * part)
    store.update_message(streamed, status="complete")
    # Push the pages into the main file first, so the test checks both files, not just the WAL.
    store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.add_message(chat, "user", "zanzibarquokka again, now only in the WAL")
    assert any(word.encode() in _raw_bytes(db_path) for word in secret_words)  # the check can see it

    store.delete_conversation(chat)
    for word in secret_words:  # while still open: main file and WAL
        assert word.encode() not in _raw_bytes(db_path), word
    store.close()
    for word in secret_words:
        assert word.encode() not in _raw_bytes(db_path), word
    with Store(db_path) as reopened:
        assert [m.text for m in reopened.messages(keep)] == ["ordinary text that stays"]
        fts_integrity(reopened)


def _raw_bytes(db_path: Path) -> bytes:
    """Every byte SQLite keeps for this database, lower-cased (the FTS index stores folded words)."""
    data = b""
    for suffix in ("", "-wal", "-journal", "-shm"):
        candidate = Path(f"{db_path}{suffix}")
        if candidate.exists():
            data += candidate.read_bytes()
    return data.lower()


# Errors a user can act on


def test_full_disk_is_explained_and_earlier_data_survives(db_path: Path) -> None:
    store = Store(db_path)
    chat = store.create_conversation("safe")
    kept = store.add_message(chat, "user", "saved before the disk filled up")
    pages = store.connection.execute("PRAGMA page_count").fetchone()[0]
    store.connection.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError) as raised:
        store.add_message(chat, "assistant", "x" * 200_000)
    assert str(raised.value) == (
        "Your disk is full: the message could not be saved. Free some space and try again."
    )
    assert not store.connection.in_transaction
    store.close()
    with Store(db_path) as reopened:
        assert [(m.id, m.text) for m in reopened.messages(chat)] == [
            (kept, "saved before the disk filled up")
        ]
        assert reopened.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_read_only_history_is_explained_and_earlier_data_survives(db_path: Path) -> None:
    store = Store(db_path)
    chat = store.create_conversation("safe")
    store.add_message(chat, "user", "written while writable")
    store.connection.execute("PRAGMA query_only = ON")
    attempts = [
        lambda: store.add_message(chat, "user", "lost"),
        lambda: store.update_message(1, text="lost"),
        lambda: store.create_conversation("lost"),
        lambda: store.rename_conversation(chat, "lost"),
        lambda: store.delete_conversation(chat),
    ]
    for attempt in attempts:
        with pytest.raises(StoreError) as raised:
            attempt()
        message = str(raised.value)
        assert message.startswith(f"Your history folder is read-only ({db_path.parent}): "), message
    assert "the message could not be saved" in _message_of(lambda: store.add_message(chat, "user", "x"))
    assert [m.text for m in store.messages(chat)] == ["written while writable"]  # reading still works
    store.close()
    with Store(db_path) as reopened:
        assert [c.title for c in reopened.list_conversations()] == ["safe"]
        assert [m.text for m in reopened.messages(chat)] == ["written while writable"]


def _message_of(action) -> str:
    with pytest.raises(StoreError) as raised:
        action()
    return str(raised.value)


def test_an_unwritable_folder_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="folder could not be created"):
        Store(blocker / "history.sqlite3")


# Durability


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from assistant.history.store import Store

    store = Store(Path(sys.argv[1]))
    chat = store.create_conversation("crash test")
    for index in range(100_000):
        message = store.add_message(chat, "assistant", "", status="streaming")
        store.update_message(message, text=f"answer {index} " * 20, status="complete")
        print(message, flush=True)  # printed only after both writes returned, i.e. committed
    """
)


def test_every_reported_commit_survives_sigkill(db_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        reported: list[int] = []
        assert child.stdout is not None
        while len(reported) < 60:
            line = child.stdout.readline()
            assert line, f"child ended early: {child.stderr.read() if child.stderr else ''}"
            reported.append(int(line))
        child.kill()  # SIGKILL on POSIX: no cleanup, no close, mid-loop
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0
    # Lines the child wrote before dying are committed too; a torn last line (no newline) is not counted.
    reported += [int(line) for line in rest.splitlines(keepends=True) if line.endswith("\n")]

    with Store(db_path) as reopened:
        assert reopened.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        fts_integrity(reopened)
        (chat,) = reopened.list_conversations()
        stored = {m.id: m for m in reopened.messages(chat.id)}
        missing = [message_id for message_id in reported if message_id not in stored]
        assert not missing
        assert all(stored[message_id].status == "complete" for message_id in reported)
        # At most the message being written at the kill is unfinished, and opening the history marked it.
        assert all(m.status != "streaming" for m in stored.values())
