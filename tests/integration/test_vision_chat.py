"""A vision GGUF with its projector is loaded as one and sees the question's images (issue 5).

The vision model is SmolLM2 with a generated random-weight projector (`vision_files.write_tiny_llava`):
llama.cpp really encodes the image, the answer means nothing. One thread, a few tokens.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from cli_runner import run_assistant
from PIL import Image
from vision_files import write_tiny_llava

from assistant.host.blocking import BlockingEngine
from assistant.host.messages import Done, EngineConfig, Failed, ModelLoaded, Token
from assistant.images import kept
from assistant.images.safe_image import decode_image
from assistant.protocols import ChatMessage, GenerationOptions

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.timeout(180)

QUESTION = [ChatMessage("user", "What colour is this picture?")]
SHORT = GenerationOptions(max_tokens=6, temperature=0.0, seed=0)


@pytest.fixture(scope="module")
def vision_model(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vision")
    model = folder / "tiny-llava-Q4_1.gguf"
    model.symlink_to(smollm2_path)
    write_tiny_llava(folder / "mmproj-model-f16.gguf", out_dim=576)
    return model


def keep_red(data_dir: Path) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    return str(kept.keep(decode_image(buffer.getvalue(), name="red.png"), data_dir).path)


def events_of(engine: BlockingEngine, config: EngineConfig, images: tuple[str, ...]) -> list:
    return list(engine.chat(config, QUESTION, SHORT, images))


def test_vision_model_sees_a_kept_image_and_a_text_model_ignores_it(
    vision_model: Path, smollm2_path: Path, tmp_path: Path
) -> None:
    image = keep_red(tmp_path)
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(Path(image).read_bytes())
    vision = EngineConfig(model=str(vision_model), data_dir=str(tmp_path), context_size=1024, threads=1)
    text = EngineConfig(model=str(smollm2_path), data_dir=str(tmp_path), context_size=1024, threads=1)
    with BlockingEngine() as engine:
        seen = events_of(engine, vision, (image,))
        blind = events_of(engine, vision, ())
        refused = events_of(engine, vision, (str(outside),))  # only kept copies reach the model
        ignored = events_of(engine, text, (image,))
    [loaded] = [e for e in seen if isinstance(e, ModelLoaded)]
    assert loaded.vision and loaded.model == "tiny-llava-Q4_1"
    done = seen[-1]
    assert isinstance(done, Done) and done.status == "complete", seen[-1]
    assert any(isinstance(e, Token) for e in seen) and done.stats.template == "Llava15ChatHandler"
    assert isinstance(blind[-1], Done) and done.stats.prompt_tokens > blind[-1].stats.prompt_tokens
    assert isinstance(refused[-1], Failed) and "kept copies" in refused[-1].message
    [text_loaded] = [e for e in ignored if isinstance(e, ModelLoaded)]
    assert not text_loaded.vision
    assert isinstance(ignored[-1], Done) and ignored[-1].status == "complete"
    assert ignored[-1].stats.template == "gguf"


def test_ask_image_with_a_vision_model_sends_the_image(vision_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    shot = tmp_path / "red.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(shot)
    settings = {"threads": 1, "temperature": 0.0, "max_answer_tokens": 8, "context_size": 2048}
    result = run_assistant(
        "ask", "--image", str(shot), "What colour is it?", "--model", str(vision_model),
        data_dir=tmp_path / "data", config_dir=tmp_path / "config", settings=settings, timeout=170,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "data" / "history.sqlite3") as connection:
        [(kind, details)] = connection.execute("SELECT kind, details FROM groundings").fetchall()
    assert kind == "image" and json.loads(details)["seen"] is True
