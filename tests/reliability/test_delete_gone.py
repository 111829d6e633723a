"""Issue 15, item 8: after deleting a chat or removing a documents folder, none of its text is in the
database file or its WAL, searched as raw bytes; a deleted chat's kept images go too
(`assistant.bench.reliability_gone`).

Regression found and fixed: a delete while another process was in a long read (the other window, the
engine loading vectors) could not cut the WAL, and the deleted text stayed in it until some later
delete; now the next write, the close, or the next process to open the file finishes it.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_rows import FULL, check

from assistant.bench import reliability_gone as gone
from assistant.bench.reliability_apps import Home

pytestmark = pytest.mark.timeout(900 if FULL else 240)


def test_a_deleted_chat_leaves_no_text_on_disk(tmp_path: Path) -> None:
    """Alone, beside another process that has the history open, one that writes, one that reads."""
    check(gone.history_gone(FULL, tmp_path))


def test_a_removed_documents_folder_leaves_no_text_on_disk(tmp_path: Path) -> None:
    check(gone.documents_gone(FULL, tmp_path))


def test_a_deleted_chat_takes_its_kept_images_along(tmp_path: Path) -> None:
    check(gone.images_gone(FULL, tmp_path))


def test_a_delete_blocked_by_a_long_read_is_finished_by_the_next_opener(tmp_path: Path) -> None:
    """The process that deleted is gone before the reader finished: whoever opens the history next cuts
    the WAL that still holds the deleted words."""
    from assistant.history.store import Store

    home = Home.fresh(tmp_path / "home")
    words: list[str] = []
    with Store(home.history) as store:
        doomed = gone._chat(store, random.Random(3), words, doomed=True)
        reader = subprocess.Popen([sys.executable, "-c", gone.HOLDER, str(home.history), "read"],
                                  env=home.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert reader.stdout is not None
        reader.stdout.readline()
        reader.stdout.readline()  # its read transaction is open
        store.delete_conversation(doomed)
        assert any(gone._found(gone._on_disk(home.data, "history.sqlite3"), w) for w in words)
        # The store closes while the reader still reads: it cannot finish the job now.
    reader.stdout.readline()  # the read is over; the reader stays open
    Store(home.history).close()  # the next opener (the window's next start, `ask`)
    raw = gone._on_disk(home.data, "history.sqlite3")
    reader.communicate("\n", timeout=60)
    assert [w for w in words if gone._found(raw, w)] == []
