"""Issue 15, item 2: the history, the image library and settings rebuilt as they would be after a crash
or a power cut between any two of their writes (every write of the real code logged, then replayed up
to each cut), and damaged files: opened read-only with a message and a copy, never a crash or a reset
(`assistant.bench.reliability_torn`).

Regressions found and fixed: a damaged history or image library was opened and written into like a
sound one (now: a copy beside it, read-only, a message); `quick_check` let an image library whose index
disagreed with its table open as sound (now `integrity_check`); a settings file with one bad value lost
every setting, and any damaged settings file was silently replaced by the defaults on the next save (now:
the good values kept, a copy, a message).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_rows import FULL, check

from assistant.bench import reliability_torn as torn
from assistant.bench import write_log

pytestmark = pytest.mark.timeout(900 if FULL else 240)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = write_log.build_library(tmp_path_factory.mktemp("write-log"))
    assert built is not None, "needs a C compiler (cc), as the llama-cpp-python build does"
    return built


def test_the_write_log_sees_every_write_and_replays_them_exactly(tmp_path: Path, library: Path) -> None:
    """The harness itself: replaying the whole log gives byte for byte the files the process wrote."""
    watched = tmp_path / "watched"
    watched.mkdir()
    before = tmp_path / "before"
    shutil.copytree(watched, before)
    script = ("from pathlib import Path\nfrom assistant.history.store import Store\n"
              f"s = Store(Path({str(watched / 'h.sqlite3')!r}))\n"
              "c = s.create_conversation('x')\n"
              "for i in range(20): s.add_message(c, 'user', 'words ' * i * 50)\n"
              "s.delete_conversation(c)\n")
    log = tmp_path / "log"
    subprocess.run([sys.executable, "-c", script], check=True,
                   env=torn._python_env() | write_log.environment(library, watched, log))
    ops = write_log.read_log(log, watched)
    assert {op.kind for op in ops} >= {write_log.WRITE, write_log.SYNC, write_log.TRUNC}
    replayed = write_log.replay(before, ops, len(ops), tmp_path / "replayed")
    assert sorted(p.name for p in replayed.iterdir()) == sorted(p.name for p in watched.iterdir())
    for path in watched.iterdir():
        assert (replayed / path.name).read_bytes() == path.read_bytes()


def test_the_sweep_fails_when_commits_are_not_durable(tmp_path: Path, library: Path) -> None:
    """It can fail: with `synchronous = OFF` a power cut loses commits that had returned."""
    script = torn.HISTORY_WORKLOAD.replace("ack(store)\nfirst = None",
                                           'store.connection.execute("PRAGMA synchronous = OFF")\n'
                                           "ack(store)\nfirst = None")
    figure = torn._sweep("off", "synchronous off", tmp_path, library, script, torn.SEED, 4,
                         torn.history_check, {}, 0, 30, torn.HISTORY_STATE)
    assert figure.failures > 0


def test_history_survives_a_crash_or_power_cut_between_any_two_writes(tmp_path: Path, library: Path) -> None:
    check(torn.history_torn(FULL, tmp_path, library))


def test_image_library_survives_a_crash_or_power_cut_between_any_two_writes(tmp_path: Path,
                                                                             library: Path) -> None:
    check(torn.library_torn(FULL, tmp_path, library))


def test_settings_survive_a_crash_or_power_cut_between_any_two_writes(tmp_path: Path, library: Path) -> None:
    check(torn.settings_torn(FULL, tmp_path, library))


def test_a_damaged_history_opens_read_only_with_a_message_and_a_copy(tmp_path: Path) -> None:
    check(torn.history_damaged(FULL, tmp_path))


def test_a_damaged_image_library_opens_read_only_with_a_message_and_a_copy(tmp_path: Path) -> None:
    check(torn.library_damaged(FULL, tmp_path))


def test_a_damaged_settings_file_keeps_a_copy_and_the_good_values(tmp_path: Path) -> None:
    check(torn.settings_damaged(FULL, tmp_path))


def test_a_flipped_indexed_value_is_found_at_open(tmp_path: Path) -> None:
    """Regression: `quick_check` does not compare indexes with their tables; `integrity_check` does."""
    import sqlite3

    from assistant.library.store import LibraryDb

    path = tmp_path / "library.sqlite3"
    LibraryDb(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO images VALUES (?, 'f.png', 1, 1, 1, 0)", ("a" * 64,))
    conn.commit()
    conn.close()
    data = bytearray(path.read_bytes())
    at = data.rfind(b"a" * 64)  # the table's copy of the hash is written after the index's
    data[at] = ord("b")
    path.write_bytes(bytes(data))
    damaged = LibraryDb(path)
    try:
        assert damaged.damaged is not None and "read-only" in damaged.damaged
        assert list(tmp_path.glob("library.sqlite3.damaged-*"))
    finally:
        damaged.close()


def test_the_window_opens_a_damaged_history_read_only_and_says_so(qtbot, app_dirs: Path) -> None:
    """The real window's start-up (`ui.app.build`, settings read from their file) on a history whose
    index page is broken and a settings file that is not JSON: old chats readable, a banner and the
    status bar say what happened and where the copies are, nothing is written into either file."""
    import sqlite3

    from PySide6.QtWidgets import QApplication

    from assistant.history.store import Store
    from assistant.ui.app import build

    history = app_dirs / "data" / "history.sqlite3"
    with Store(history) as store:
        chat = store.create_conversation("Before the damage")
        store.add_message(chat, "user", "words that must stay readable")
    conn = sqlite3.connect(history)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages_streaming'").fetchone()[0]
    conn.close()
    data = bytearray(history.read_bytes())
    page = 4096 * (root - 1)
    data[page:page + 8] = b"\xff" * 8  # the partial index's b-tree page header: only integrity_check reads it
    history.write_bytes(bytes(data))
    settings_file = app_dirs / "config" / "settings.json"
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text('{"theme": "dark", "threads": ')  # cut off mid-save by another program
    damaged = (history.read_bytes(), settings_file.read_bytes())

    parts = build(QApplication.instance(), None, settings_file)  # type: ignore[arg-type]
    qtbot.addWidget(parts.window)
    try:
        assert parts.store is not None and parts.store.damaged is not None
        assert [c.title for c in parts.store.list_conversations()] == ["Before the damage"]
        notice = parts.window.history_notice.text()
        assert not parts.window.history_notice.isHidden() and "read-only" in notice
        assert next(history.parent.glob("history.sqlite3.damaged-*")).name in notice
        assert "settings file" in parts.window.status.last_error
        assert parts.session.settings.first_run_done  # no first-run panel for a damaged file
    finally:
        parts.shutdown()
        parts.store.close()
    assert (history.read_bytes(), settings_file.read_bytes()) == damaged
