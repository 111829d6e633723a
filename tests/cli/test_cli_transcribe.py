"""`assistant transcribe FILE` as a user runs it: a real subprocess, a real engine process, tiny.en."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_runner import run_assistant

from assistant.cli.transcribe import format_segment, format_time

pytestmark = pytest.mark.timeout(120)
LINE = re.compile(r"^\[(\d\d):(\d\d)\.(\d) → (\d\d):(\d\d)\.(\d)\] (.+)$")


def test_times_read_as_minutes_seconds_tenths() -> None:
    assert format_time(0) == "00:00.0"
    assert format_time(75.26) == "01:15.3"
    assert format_time(3 * 3600 + 0.04) == "180:00.0"  # a three-hour recording keeps counting minutes
    assert format_time(59.96) == "01:00.0"  # rounding carries into the minutes
    assert format_segment(1.0, 2.5, "Hello.") == "[00:01.0 → 00:02.5] Hello."


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_assistant("transcribe", *args, data_dir=data_dir, config_dir=data_dir / "config", timeout=100)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng makes the speech fixture (apt-get install espeak-ng)")
    pytest.importorskip("faster_whisper")
    out = tmp_path_factory.mktemp("cli-speech") / "speech.wav"
    text = "Children like to play games in the garden when the sun is shining."
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(out), text], check=True)
    return out


def test_transcribe_prints_timed_lines_and_the_language(speech: Path, shared_data_dir: Path) -> None:
    result = run_cli("--model", "whisper-tiny.en", str(speech), data_dir=shared_data_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines and all(LINE.match(line) for line in lines), result.stdout
    text = " ".join(LINE.match(line).group(7) for line in lines).lower()  # type: ignore[union-attr]
    assert "children" in text and "garden" in text and "shining" in text, text
    assert "Language: en" in result.stderr


def test_errors_go_to_stderr_with_exit_code_1(speech: Path, shared_data_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.mp3"
    result = run_cli("--model", "whisper-tiny.en", str(missing), data_dir=shared_data_dir)
    assert result.returncode == 1 and result.stdout == ""
    assert str(missing) in result.stderr and "does not exist" in result.stderr

    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(random.Random(7).randbytes(4000))  # seeded: the same bytes every run
    result = run_cli("--model", "whisper-tiny.en", str(garbage), data_dir=shared_data_dir)
    assert result.returncode == 1 and "Convert it" in result.stderr

    result = run_cli("--model", "whisper-tiny.en", "--language", "de", str(speech), data_dir=shared_data_dir)
    assert result.returncode == 1 and "English only" in result.stderr

    result = run_cli("--model", "no-such-model", str(speech), data_dir=shared_data_dir)
    assert result.returncode == 1 and "unknown model" in result.stderr
