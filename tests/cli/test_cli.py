"""The command line, run as a user would: a real subprocess, real model, real history file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_assistant, stored_messages

pytest.importorskip("llama_cpp")


def run_cli(*args: str, home: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return run_assistant(*args, data_dir=home / "data", config_dir=home / "config", timeout=timeout)


def stored_texts(home: Path) -> list[tuple[str, str, str]]:
    return stored_messages(home / "data")


def test_ask_streams_an_answer_and_saves_it(tmp_path: Path, smollm2_path: Path) -> None:
    result = run_cli("ask", "--model", str(smollm2_path), "Say hello in one word.", home=tmp_path)
    assert result.returncode == 0, result.stderr
    answer = result.stdout.strip()
    assert answer
    rows = stored_texts(tmp_path)
    assert [(role, status) for role, _, status in rows] == [("user", "complete"), ("assistant", "complete")]
    assert rows[0][1] == "Say hello in one word."
    assert rows[1][1].strip() == answer


def test_ask_no_save_leaves_history_empty(tmp_path: Path, smollm2_path: Path) -> None:
    result = run_cli("ask", "--no-save", "--model", str(smollm2_path), "Name a colour.", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert stored_texts(tmp_path) == []


def test_ask_with_a_broken_model_explains_and_fails(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(200))
    result = run_cli("ask", "--model", str(broken), "hello", home=tmp_path)
    assert result.returncode == 1
    assert "broken.gguf" in result.stderr
    # The question is kept; the answer is recorded as failed, not lost or left "streaming".
    rows = stored_texts(tmp_path)
    assert rows[0][:2] == ("user", "hello")
    assert rows[1][2] == "failed"


def test_ask_refuses_an_empty_question(tmp_path: Path) -> None:
    result = run_cli("ask", "   ", home=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "question" in result.stderr.lower()


def test_models_lists_the_catalogue(tmp_path: Path) -> None:
    result = run_cli("models", home=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "qwen2.5-coder-0.5b-instruct" in result.stdout
    assert "will assemble" in result.stdout or "ready" in result.stdout


def test_selftest_reports_a_missing_model(tmp_path: Path) -> None:
    result = run_cli("selftest", "--model", str(tmp_path / "nope.gguf"), home=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "nope.gguf" in result.stdout


@pytest.mark.slow
def test_selftest_passes_offline_on_the_small_bundled_model(shared_data_dir: Path, tmp_path: Path) -> None:
    env_home = tmp_path
    (env_home / "data").symlink_to(shared_data_dir, target_is_directory=True)
    # Named: the default is automatic and may pick the 1.5B (1.1 GB more to assemble) on a large machine.
    result = run_cli("selftest", "--model", "qwen2.5-coder-0.5b-instruct", home=env_home, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Paris" in result.stdout
    assert "selftest OK" in result.stdout


def test_answers_of_killed_ask_processes_are_marked_interrupted_by_the_next_one(
    tmp_path: Path, smollm2_path: Path
) -> None:
    """`kill -9` of `assistant ask` mid-answer three times: each answer stays half-written on disk, and the
    next process that opens the history (here the next `ask`) marks it interrupted, not 'streaming'."""
    data, config = tmp_path / "data", tmp_path / "cfg"
    settings = {"model": str(smollm2_path), "threads": 1, "max_answer_tokens": 1500}
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    env = os.environ | {"ASSISTANT_DATA_DIR": str(data), "ASSISTANT_CONFIG_DIR": str(config),
                        "HF_HUB_OFFLINE": "1"}
    for _ in range(3):
        asking = subprocess.Popen([sys.executable, "-m", "assistant", "ask", "Count from 1 to 500."],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        assert asking.stdout is not None
        asking.stdout.read(8)  # the answer is streaming (and flushed to the history every 0.5 s)
        os.kill(asking.pid, signal.SIGKILL)
        asking.wait(timeout=60)
    half_written = [m for m in stored_messages(data) if m[0] == "assistant"]
    assert len(half_written) == 3 and half_written[-1][2] == "streaming"
    result = run_assistant("ask", "Say hello.", data_dir=data, config_dir=config)
    assert result.returncode == 0, result.stderr
    answers = [m for m in stored_messages(data) if m[0] == "assistant"]
    assert [status for _role, _text, status in answers] == ["interrupted"] * 3 + ["complete"]
