"""`assistant ask --audio FILE` as a user runs it: real subprocess, Whisper tiny.en, SmolLM2, history DB."""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cli_runner import run_assistant, stored_messages

pytest.importorskip("llama_cpp")
pytest.importorskip("faster_whisper")
pytestmark = pytest.mark.timeout(120)

QUESTION = "What did the speaker say about the park?"
SPEECH = (
    "The new park by the river will open in June. "
    "It has a playground, a pond with ducks, and long paths for walking dogs."
)


def run_ask(*args: str, home: Path, **settings: object) -> subprocess.CompletedProcess[str]:
    # Greedy decoding: the part summaries (and so the final prompt's length) are the same every run.
    values = {"speech_model": "whisper-tiny.en", "threads": 1, "temperature": 0.0, **settings}
    return run_assistant(
        "ask", *args, data_dir=home / "data", config_dir=home / "config", settings=values, timeout=110
    )


def stored(home: Path) -> list[tuple[str, str, str]]:
    return stored_messages(home / "data")


def stored_grounding(home: Path) -> tuple[str | None, list[tuple[str, str, str, int]]]:
    """The first question's prompt (what the model got) and its groundings (kind, source, text, sent)."""
    with sqlite3.connect(home / "data" / "history.sqlite3") as connection:
        prompt = connection.execute("SELECT prompt FROM messages ORDER BY id LIMIT 1").fetchone()[0]
        query = "SELECT kind, source, text, sent FROM groundings ORDER BY position"
        rows = connection.execute(query).fetchall()
    return prompt, rows


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng makes the speech fixture (apt-get install espeak-ng)")
    out = tmp_path_factory.mktemp("ask-audio") / "clip.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(out), SPEECH], check=True)
    return out


def test_question_about_a_recording_is_answered_and_saved(
    clip: Path, smollm2_path: Path, tmp_path: Path
) -> None:
    result = run_ask("--audio", str(clip), QUESTION, "--model", str(smollm2_path), home=tmp_path)
    assert result.returncode == 0, result.stderr
    answer = result.stdout.strip()
    assert answer
    assert "part 1/" not in result.stderr  # a short clip is asked about directly
    rows = stored(tmp_path)
    assert [(role, status) for role, _, status in rows] == [("user", "complete"), ("assistant", "complete")]
    # The question is stored as typed; the transcript beside it, and the model got both.
    assert rows[0][1] == QUESTION
    prompt, groundings = stored_grounding(tmp_path)
    assert prompt is not None and prompt.startswith("Transcript of clip.wav:") and prompt.endswith(QUESTION)
    [(kind, source, transcript, sent)] = groundings
    assert (kind, source, sent) == ("transcript", "clip.wav", 1)
    assert transcript.startswith("[00:00] ") and "park" in transcript.lower() and transcript in prompt
    assert rows[1][1].strip() == answer


def test_unreadable_audio_names_the_file_and_saves_nothing(smollm2_path: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(random.Random(7).randbytes(4000))  # seeded: the same bytes every run
    result = run_ask("--audio", str(garbage), QUESTION, "--model", str(smollm2_path), home=tmp_path)
    assert result.returncode == 1
    assert str(garbage) in result.stderr
    assert result.stdout == ""
    assert stored(tmp_path) == []


def test_silence_says_no_speech_and_saves_nothing(smollm2_path: Path, tmp_path: Path) -> None:
    if shutil.which("sox") is None:
        pytest.skip("sox makes the silent fixture")
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(silence), "trim", "0", "3"], check=True)
    result = run_ask("--audio", str(silence), "--model", str(smollm2_path), home=tmp_path)
    assert result.returncode == 1
    assert f"No speech was recognised in {silence}." in result.stderr
    assert stored(tmp_path) == []


def test_long_recording_is_summarised_in_parts(clip: Path, smollm2_path: Path, tmp_path: Path) -> None:
    if shutil.which("sox") is None:
        pytest.skip("sox concatenates the long fixture")
    long_clip = tmp_path / "long.wav"
    subprocess.run(["sox", *[str(clip)] * 6, str(long_clip)], check=True)
    result = run_ask(
        "--audio",
        str(long_clip),
        QUESTION,
        "--model",
        str(smollm2_path),
        home=tmp_path,
        context_size=512,
        max_answer_tokens=128,
    )
    assert result.returncode == 0, result.stderr
    assert "summarising part 1/" in result.stderr.lower()
    assert result.stdout.strip()
    rows = stored(tmp_path)
    # Only the final question and answer are kept: the part summaries are intermediate.
    assert [(role, status) for role, _, status in rows] == [("user", "complete"), ("assistant", "complete")]
    assert rows[0][1] == QUESTION
    prompt, groundings = stored_grounding(tmp_path)
    assert prompt is not None and "was too long to read at once" in prompt and "Part 1:" in prompt
    assert prompt.endswith(QUESTION)
    # The whole transcript is kept for the user; the model got the part summaries instead.
    assert [(kind, sent) for kind, _, _, sent in groundings] == [("transcript", 0), ("summary", 1)]
    assert groundings[1][2] in prompt and groundings[0][2] not in prompt
    assert rows[1][1].strip() == result.stdout.strip()


def test_missing_file_and_too_small_context_fail_before_any_work(clip: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.mp3"
    result = run_ask("--audio", str(missing), QUESTION, home=tmp_path)
    assert result.returncode == 1
    assert str(missing) in result.stderr and "does not exist" in result.stderr

    # 512 tokens of context with 1024 kept for the answer leaves nothing for the transcript.
    result = run_ask("--audio", str(clip), home=tmp_path, context_size=512, max_answer_tokens=1024)
    assert result.returncode == 2
    assert "context" in result.stderr.lower()
    assert stored(tmp_path) == []


OTHER_SPEECH = "The library on Elm Street closes at six on Fridays and opens at nine on Saturdays."


def encode(wav: Path, target: Path, codec: str, container: str, rate: int) -> Path:
    """Re-encode a wav with PyAV (the library the app decodes with), as a user's phone or browser would."""
    import av

    with av.open(str(wav)) as source, av.open(str(target), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        resampler = av.AudioResampler(format=stream.codec_context.format or "fltp",
                                      layout="mono", rate=rate)
        for frame in source.decode(audio=0):
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    out.mux(packet)
        for resampled in resampler.resample(None):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


def transcribed(recording: Path, home: Path) -> str:
    result = run_assistant("transcribe", "--model", "whisper-tiny.en", str(recording),
                           data_dir=home / "data", config_dir=home / "config", timeout=110)
    assert result.returncode == 0, result.stderr
    return " ".join(line.split("] ", 1)[-1] for line in result.stdout.splitlines())


@pytest.fixture(scope="module")
def wav_errors(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> float:
    """The word error rate of the wav itself: the bar a compressed copy of it is held to."""
    from speech_metrics import word_error_rate

    return word_error_rate(SPEECH, transcribed(clip, tmp_path_factory.mktemp("wav")))


@pytest.mark.parametrize(("name", "codec", "container", "rate"), [
    ("clip.mp3", "mp3", "mp3", 22050),
    ("clip.flac", "flac", "flac", 22050),
    ("clip.m4a", "aac", "mp4", 22050),
    ("clip.webm", "libopus", "webm", 48000),
])
def test_compressed_recordings_are_transcribed_like_the_wav(
    clip: Path, wav_errors: float, tmp_path: Path, name: str, codec: str, container: str, rate: int
) -> None:
    """MP3, FLAC, M4A (AAC) and WebM (Opus), made from the same speech: the engine decodes each, and a
    lossy copy costs at most two words of the 24 the wav gets right or wrong."""
    from speech_metrics import word_error_rate

    text = transcribed(encode(clip, tmp_path / name, codec, container, rate), tmp_path)
    assert word_error_rate(SPEECH, text) <= wav_errors + 2 / 24, text


def test_two_recordings_and_an_image_go_into_one_question(
    clip: Path, smollm2_path: Path, tmp_path: Path
) -> None:
    """Through the real engine: two recordings and a screenshot, grounded in the order attached."""
    from error_screenshot import MESSAGE, save_error_dialog

    other = tmp_path / "library.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(other), OTHER_SPEECH], check=True)
    shot = save_error_dialog(tmp_path / "error dialog.png")
    result = run_ask("--audio", str(clip), "--image", str(shot), "--audio", str(other),
                     "When does the library close, and what error is shown?", "--model", str(smollm2_path),
                     home=tmp_path)
    assert result.returncode == 0, result.stderr
    prompt, groundings = stored_grounding(tmp_path)
    kinds_and_sources = [(kind, source) for kind, source, _text, _sent in groundings]
    # `ask` takes --audio files first, then --image files (README): the order the groundings keep.
    assert kinds_and_sources == [("transcript", "clip.wav"), ("transcript", "library.wav"),
                                 ("image", "error dialog.png")]
    park, library, image = (text for _kind, _source, text, _sent in groundings)
    assert "park" in park.lower() and "six" in library.lower() and MESSAGE in image
    assert prompt is not None and all(text in prompt for text in (park, library, image))
    assert [role for role, _, _ in stored(tmp_path)] == ["user", "assistant"]
