"""The image library fed by the real engine process: embeddings in ImagePerceived, text embedded in the
engine, images recorded with their conversation and message, and `ask --image` recording too.

A tiny CLIP trained here on coloured shapes (`clip_install`), RapidOCR from the wheel, SmolLM2 for the
one `ask` answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_assistant
from clip_install import install, shape_png, train_and_import

from assistant.chat.shared_images import SharedImages
from assistant.clip.labels import read_labels
from assistant.host.client import EngineClient
from assistant.host.messages import (
    Done,
    EmbedTextRequest,
    Failed,
    ImagePerceived,
    PerceiveRequest,
    TextEmbedded,
    result_of,
)
from assistant.library.image_library import ImageLibrary

pytest.importorskip("open_clip")
pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_and_import(tmp_path_factory.mktemp("clip"))


def perceived(engine: EngineClient, path: Path, data: Path) -> ImagePerceived:
    events = list(engine.stream(PerceiveRequest(str(path), str(data), threads=1)))
    assert isinstance(events[-1], Done), events[-1]
    return next(r for e in events if (r := result_of(e, ImagePerceived)))


def test_shared_images_are_recorded_with_embeddings_and_found_by_text(tmp_path: Path,
                                                                      clip_model: Path) -> None:
    data = tmp_path / "data"
    install(clip_model, data)
    red = shape_png("red", "circle", tmp_path / "red.png")
    blue = shape_png("blue", "square", tmp_path / "blue.png")
    with EngineClient() as engine:
        shared = SharedImages()
        found = perceived(engine, tmp_path / "red.png", data)
        assert found.sha256 == red and found.clip_model.startswith("shapes-")
        assert np.asarray(found.embedding).shape == (32,)
        shared.note(found)
        assert shared.record(data, conversation_id=1, message_id=10) == 1
        shared.note(perceived(engine, tmp_path / "blue.png", data))
        assert shared.record(data, conversation_id=2, message_id=20) == 1
        events = list(engine.stream(EmbedTextRequest("a red circle", str(data))))
    assert isinstance(events[-1], Done)
    query = next(r for e in events if (r := result_of(e, TextEmbedded)))
    assert query.model == found.clip_model
    with ImageLibrary(data) as library:
        hits = library.search_vector(query.embedding, 5, model=query.model)
        assert [h.hash for h in hits] == [red, blue]
        assert hits[0].uses[0].conversation_id == 1 and hits[0].uses[0].message_id == 10
        assert [h.hash for h in library.similar(red, 5, model=query.model)] == [blue]
        assert library.forget_conversation(1) == [red]
        assert [h.hash for h in library.search_vector(query.embedding, 5, model=query.model)] == [blue]


def test_without_clip_images_are_kept_unindexed_and_text_search_says_what_to_install(tmp_path: Path) -> None:
    data = tmp_path / "data"
    red = shape_png("red", "circle", tmp_path / "red.png")
    with EngineClient() as engine:
        found = perceived(engine, tmp_path / "red.png", data)
        events = list(engine.stream(EmbedTextRequest("a red circle", str(data))))
    assert found.embedding is None and found.clip_model == ""
    failed = events[-1]
    assert isinstance(failed, Failed) and "import-clip" in failed.message
    shared = SharedImages()
    shared.note(found)
    assert shared.record(data, 3, 30) == 1
    with ImageLibrary(data) as library:
        assert len(library) == 1 and library.unindexed(model="shapes-any") == [red]


def test_ask_with_an_image_records_it_in_the_library(tmp_path: Path, clip_model: Path) -> None:
    home = tmp_path / "home"
    install(clip_model, home / "data")
    red = shape_png("red", "circle", tmp_path / "red.png")
    settings = {"threads": 1, "temperature": 0.0, "max_answer_tokens": 4}
    result = run_assistant("ask", "What shape is this?", "--image", str(tmp_path / "red.png"),
                           data_dir=home / "data", config_dir=home / "config", settings=settings, timeout=250)
    assert result.returncode == 0, result.stderr
    with ImageLibrary(home / "data") as library:
        (use,) = library.uses(red)
        assert use.conversation_id >= 1 and use.message_id >= 1
        assert not library.unindexed(model=next(iter(_models(library))))


def _models(library: ImageLibrary) -> list[str]:
    return [m for (m,) in library._db.query("SELECT model FROM models")]


def test_describe_prints_clip_labels_and_survives_a_broken_clip_model(
    tmp_path: Path, clip_model: Path
) -> None:
    data, config = tmp_path / "data", tmp_path / "cfg"
    installed = install(clip_model, data)
    picture = tmp_path / "shape.png"
    shape_png("red", "circle", picture)
    result = run_assistant("describe", "--json", str(picture), data_dir=data, config_dir=config)
    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["labels"]
    vocabulary = set(read_labels())
    assert len(labels) == 5 and all(item["label"] in vocabulary for item in labels), labels
    scores = [item["score"] for item in labels]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001

    image_tower = installed / json.loads((installed / "config.json").read_text())["files"]["image"]["path"]
    image_tower.write_bytes(b"\0" * image_tower.stat().st_size)  # same size, not a model any more
    broken = run_assistant("describe", str(picture), data_dir=data, config_dir=config)
    assert broken.returncode == 0, broken.stderr  # the text (none here) is still read
    assert "no labels" in broken.stderr and "Labels:" not in broken.stdout
