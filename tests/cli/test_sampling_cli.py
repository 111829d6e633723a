"""Sampling through the real CLI: a fresh process draws a fresh seed (it used to repeat the previous
process's sample), the answer records what it used, and that record reproduces the answer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_runner import run_assistant

pytest.importorskip("llama_cpp")

OPEN_QUESTION = "Write a two-line poem about autumn leaves."
SETTINGS = {"threads": 1, "max_answer_tokens": 48, "context_size": 2048, "first_run_done": True}


def ask(home: Path, model: Path, **settings: object) -> tuple[str, dict]:
    result = run_assistant("ask", "--model", str(model), OPEN_QUESTION, data_dir=home / "data",
                           config_dir=home / "config", settings=SETTINGS | settings)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(home / "data" / "history.sqlite3") as db:
        (recorded,) = db.execute("SELECT sampling FROM messages WHERE role = 'assistant' "
                                 "ORDER BY id DESC LIMIT 1").fetchone()
    return result.stdout.strip(), json.loads(recorded)


def test_fresh_processes_draw_fresh_seeds_and_a_seed_replays(tmp_path: Path, smollm2_path: Path) -> None:
    first_text, first = ask(tmp_path, smollm2_path)
    second_text, second = ask(tmp_path, smollm2_path)
    # An open question on a small model: sampled at the low small-model temperature, never greedy.
    assert first["task"] == second["task"] == "open"
    assert first["temperature"] == 0.3 and first["min_p"] == 0.1 and first["top_k"] == 40
    assert "a small model" in first["reason"] and "a fresh seed" in first["reason"]
    assert first["seed"] != second["seed"]
    assert first_text and second_text

    # The user fixes the seed in Settings: the first answer comes back word for word.
    replay_text, replay = ask(tmp_path, smollm2_path, seed=first["seed"])
    assert replay["seed"] == first["seed"] and "your seed" in replay["reason"]
    assert replay_text == first_text
