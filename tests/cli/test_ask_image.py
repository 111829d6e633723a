"""Images through the real engine process: `PerceiveRequest` directly, and `assistant ask --image`.

OCR is RapidOCR's PP-OCRv4 from the wheel; answers come from SmolLM2 (greedy, one thread). The image is
a Pillow-drawn error dialog whose text is known.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cli_runner import run_assistant, stored_messages
from error_screenshot import MESSAGE, save_error_dialog

from assistant.host.client import EngineClient
from assistant.host.messages import Done, Failed, ImagePerceived, PerceiveRequest, Progress, result_of
from assistant.images import kept

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(180)

QUESTION = "What error code is shown?"


def run_ask(*args: str, home: Path, **settings: object) -> subprocess.CompletedProcess[str]:
    values = {"speech_model": "whisper-tiny.en", "threads": 1, "temperature": 0.0, "max_answer_tokens": 48,
              **settings}
    return run_assistant(
        "ask", *args, data_dir=home / "data", config_dir=home / "config", settings=values, timeout=170
    )


def groundings(home: Path) -> tuple[str | None, list[tuple[str, str, str, str]]]:
    """The first question's prompt and its groundings (kind, source, text, details)."""
    with sqlite3.connect(home / "data" / "history.sqlite3") as connection:
        prompt = connection.execute("SELECT prompt FROM messages ORDER BY id LIMIT 1").fetchone()[0]
        rows = connection.execute("SELECT kind, source, text, details FROM groundings ORDER BY position")
        return prompt, rows.fetchall()


def test_the_engine_reads_an_image_keeps_a_copy_and_explains_a_bad_one(tmp_path: Path) -> None:
    shot = save_error_dialog(tmp_path / "error.png")
    bad = tmp_path / "report.png"
    bad.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n")
    data = tmp_path / "data"
    # A damaged CLIP model costs the labels, never the text.
    broken = data / "models" / "clip" / "broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{}")
    with EngineClient() as engine:
        events = list(engine.stream(PerceiveRequest(str(shot), str(data), threads=1)))
        refused = list(engine.stream(PerceiveRequest(str(bad), str(data), threads=1)))
        again = list(engine.stream(PerceiveRequest(str(shot), str(data), threads=1)))  # OCR loaded already
    assert any(isinstance(e, Progress) and e.stage == "perceive" for e in events)
    found = next(r for e in events if (r := result_of(e, ImagePerceived)))
    assert MESSAGE in found.text and found.format == "PNG" and (found.width, found.height) == (560, 200)
    assert found.labels == ()
    if importlib.util.find_spec("assistant.clip") is not None:  # the CLIP package tried, and gave up
        assert any(isinstance(e, Progress) and "Labelling" in e.message for e in events)
    assert any("0x80070005" in line.text for line in found.lines)
    assert found.kept_path == str(kept.kept_path(found.sha256, data))
    assert found.thumbnail_path == str(kept.thumbnail_path(found.sha256, data))
    assert isinstance(events[-1], Done) and events[-1].status == "complete"
    assert isinstance(refused[-1], Failed)
    assert refused[-1].message.startswith(f"Cannot use image {bad}: it is a PDF document")
    assert isinstance(again[-1], Done) and again[-1].stats.load_s == 0.0


def test_ask_about_an_image_answers_and_stores_what_was_read(smollm2_path: Path, tmp_path: Path) -> None:
    shot = save_error_dialog(tmp_path / "error.png")
    result = run_ask("--image", str(shot), QUESTION, "--model", str(smollm2_path), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Reading error.png…" in result.stderr and result.stdout.strip()
    rows = stored_messages(tmp_path / "data")
    assert rows[0] == ("user", QUESTION, "complete")
    assert rows[1][2] == "complete" and rows[1][1].strip() == result.stdout.strip()
    prompt, [(kind, source, text, details)] = groundings(tmp_path)
    assert (kind, source) == ("image", "error.png") and MESSAGE in text
    assert prompt is not None and text in prompt and prompt.endswith(QUESTION)
    sha = json.loads(details)["image"]
    assert kept.kept_path(sha, tmp_path / "data") is not None  # kept by hash, for the window's thumbnail


def test_a_bad_image_exits_1_with_its_message_and_saves_nothing(smollm2_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "screenshot.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    result = run_ask("--image", str(bad), QUESTION, "--model", str(smollm2_path), home=tmp_path)
    assert result.returncode == 1
    assert f"Cannot use image {bad}" in result.stderr and result.stdout == ""
    assert stored_messages(tmp_path / "data") == []
    folder = tmp_path / "folder.png"
    folder.mkdir()
    refused = run_ask("--image", str(folder), QUESTION, home=tmp_path)
    assert refused.returncode == 1 and "it is a folder" in refused.stderr


def test_an_image_and_a_recording_together(smollm2_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng makes the speech fixture (apt-get install espeak-ng)")
    shot = save_error_dialog(tmp_path / "error.png")
    call = tmp_path / "call.wav"
    speech = "The customer cannot open the backup folder since the update."
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(call), speech], check=True)
    question = "Why can the customer not open the folder?"
    result = run_ask("--image", str(shot), "--audio", str(call), question, "--model", str(smollm2_path),
                     home=tmp_path)
    assert result.returncode == 0, result.stderr
    prompt, rows = groundings(tmp_path)
    # Recordings first, then images (argparse keeps each option's order, not their interleaving).
    assert [(kind, source) for kind, source, _, _ in rows] == [("transcript", "call.wav"),
                                                               ("image", "error.png")]
    assert prompt is not None and MESSAGE in prompt and "backup" in prompt.lower()
    assert prompt.endswith(f"Question: {question}")


def test_with_a_clip_model_installed_an_image_gets_labels_from_the_vocabulary(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("open_clip")
    import random

    import clip_shapes

    from assistant.clip.folder import clip_models_dir
    from assistant.clip.importer import import_clip
    from assistant.clip.labels import read_labels

    data = tmp_path / "data"
    trained = clip_shapes.train(tmp_path, steps=30)  # what it learnt does not matter here, only the path
    import_clip(str(trained.config_path), trained.checkpoint, clip_models_dir(data), "tiny-shapes")
    picture = tmp_path / "circle.png"
    clip_shapes.draw("red", "circle", random.Random(1)).save(picture)
    with EngineClient() as engine:
        events = list(engine.stream(PerceiveRequest(str(picture), str(data), threads=1)))
    found = next(r for e in events if (r := result_of(e, ImagePerceived)))
    vocabulary = set(read_labels())
    assert len(found.labels) == 5 and all(label in vocabulary for label, _ in found.labels)
    probabilities = [p for _, p in found.labels]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
    assert list((data / "cache" / "clip-labels").glob("*.npy"))  # the vocabulary is embedded once
