"""The vision engine: preflight and handler construction on generated pairs, a real llama.cpp run with
SmolLM2 and a generated (random-weight) projector, and a real vision model when one is provided.

No vision GGUF or mmproj exists on any registry these machines can reach, so the end-to-end test with
a *meaningful* answer only runs with ASSISTANT_VISION_MODEL_DIR pointing at a folder that holds a
vision model and its projector (for example Qwen2-VL-2B-Instruct-Q4_K_M.gguf with
mmproj-Qwen2-VL-2B-Instruct-f16.gguf).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from llama_cpp import llama_chat_format
from model_files import smollm2_path
from PIL import Image, ImageDraw
from vision_files import write_model, write_projector, write_tiny_llava

from assistant.engines.llama_vision import (
    VisionChatModel,
    chat_messages,
    image_data_uri,
    load_images,
    prepare_load,
    resolve_handler,
)
from assistant.images import kept
from assistant.images.safe_image import decode_image
from assistant.models.catalog import ModelError
from assistant.models.gguf_writer import write_gguf_copy
from assistant.models.vision_pairing import VisionPair, find_vision_pair, scan_vision
from assistant.prompt.conversation import PromptTooLong, fit_to_context
from assistant.prompt.vision_history import MAX_EARLIER_IMAGES
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def pair_in(folder: Path, model: str, mmproj: str) -> VisionPair:
    result = find_vision_pair(folder / model, folder)
    assert isinstance(result, VisionPair), result.reason  # type: ignore[union-attr]
    assert result.mmproj == folder / mmproj
    return result


# --- up to the handler, on generated files ------------------------------------------------------------

@pytest.mark.parametrize("model, arch, mmproj, ptype, handler", [
    ("Qwen2-VL-2B-Instruct-Q4_K_M.gguf", "qwen2vl", "mmproj-Qwen2-VL-2B-Instruct-f16.gguf",
     "qwen2vl_merger", "Qwen25VLChatHandler"),
    ("llava-v1.5-7b-Q4_K_M.gguf", "llama", "llava-v1.5-7b-mmproj-f16.gguf", "mlp", "Llava15ChatHandler"),
    ("MiniCPM-V-2_6-Q4_K_M.gguf", "qwen2", "mmproj-MiniCPM-V-2_6-f16.gguf", "resampler",
     "MiniCPMv26ChatHandler"),
    ("gemma-3-4b-it-q4_0.gguf", "gemma3", "mmproj-gemma-3-4b-it-f16.gguf", "gemma3", "MTMDChatHandler"),
])
def test_handler_is_constructed_for_each_architecture(tmp_path: Path, model: str, arch: str, mmproj: str,
                                                      ptype: str, handler: str) -> None:
    write_model(tmp_path / model, arch=arch, width=64)
    write_projector(tmp_path / mmproj, ptype=ptype, out_dim=64)
    plan = prepare_load(pair_in(tmp_path, model, mmproj), context_size=2048, threads=1)
    assert plan.handler_name == handler and plan.handler_class is getattr(llama_chat_format, handler)
    assert plan.llama_kwargs["model_path"] == str(tmp_path / model) and plan.llama_kwargs["n_ctx"] == 2048
    made = plan.make_handler()
    assert isinstance(made, plan.handler_class) and made.clip_model_path == str(tmp_path / mmproj)
    assert made.verbose is False


def test_a_handler_missing_from_llama_cpp_falls_back() -> None:
    cls, name, note = resolve_handler("Gemma9ChatHandler", has_chat_template=True)
    assert name == "MTMDChatHandler" and cls is llama_chat_format.MTMDChatHandler
    assert "Gemma9ChatHandler is not in llama-cpp-python" in note
    assert resolve_handler("Gemma9ChatHandler", has_chat_template=False)[1] == "Llava15ChatHandler"


@pytest.fixture
def llava_pair(tmp_path: Path) -> VisionPair:
    write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    write_projector(tmp_path / "llava-v1.5-7b-mmproj-f16.gguf", out_dim=64)
    return pair_in(tmp_path, "llava-v1.5-7b-Q4_K_M.gguf", "llava-v1.5-7b-mmproj-f16.gguf")


def load_error(pair: VisionPair) -> str:
    with pytest.raises(ModelError) as info:
        VisionChatModel.load(pair, threads=1)  # must fail in preflight, before llama.cpp
    return str(info.value)


def test_missing_projector(llava_pair: VisionPair) -> None:
    llava_pair.mmproj.unlink()
    msg = load_error(llava_pair)
    assert str(llava_pair.mmproj) in msg and "is missing (moved or deleted)" in msg and "Put it back" in msg


def test_truncated_projector(llava_pair: VisionPair) -> None:
    data = llava_pair.mmproj.read_bytes()
    llava_pair.mmproj.write_bytes(data[: len(data) // 2])
    msg = load_error(llava_pair)
    assert llava_pair.mmproj.name in msg and "is truncated" in msg and "Download the mmproj file again" in msg


def test_corrupt_projector(llava_pair: VisionPair) -> None:
    llava_pair.mmproj.write_bytes(b"<!DOCTYPE html><html>rate limited</html>" + bytes(100))
    msg = load_error(llava_pair)
    assert "is not a GGUF file" in msg and "HTML page" in msg and llava_pair.mmproj.name in msg


def test_not_a_projector(llava_pair: VisionPair) -> None:
    shutil.copy(llava_pair.model, llava_pair.mmproj)
    msg = load_error(llava_pair)
    assert f"{llava_pair.mmproj.name} is not a vision projector (mmproj)" in msg
    assert "llama language model" in msg and "mmproj file that came with" in msg


def test_projector_replaced_by_one_of_another_size(llava_pair: VisionPair) -> None:
    write_projector(llava_pair.mmproj, out_dim=128)
    msg = load_error(llava_pair)
    assert "produces embeddings of size 128" in msg and "expects 64" in msg


def test_projector_that_would_crash_llama_cpp(llava_pair: VisionPair) -> None:
    write_projector(llava_pair.mmproj, out_dim=64, drop=["mm.2.weight"])
    assert "lacks the tensor mm.2.weight" in load_error(llava_pair)


def test_broken_model_file(llava_pair: VisionPair) -> None:
    llava_pair.model.write_bytes(b"GGUF" + bytes(40))
    msg = load_error(llava_pair)
    assert msg.startswith(f"the vision model {llava_pair.model.name} cannot be used")


# --- messages and images --------------------------------------------------------------------------

def test_images_go_with_the_newest_question_as_data_uris() -> None:
    image = decode_image(png((200, 30, 30)), name="red.png")
    url = image_data_uri(image)
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (64, 48) and decoded.getpixel((5, 5)) == (200, 30, 30)
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "hi"),
                ChatMessage("assistant", "hello"), ChatMessage("user", "what is <__media__> this?")]
    out = chat_messages(messages, [url, url])
    assert out[0] == {"role": "system", "content": "Be brief."}
    assert out[1] == {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    assert out[2] == {"role": "assistant", "content": "hello"}
    parts = out[3]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[0]["image_url"]["url"] == url
    assert parts[2]["text"] == "what is [image] this?"  # a typed marker cannot claim an image slot
    with pytest.raises(ValueError, match="newest message"):
        chat_messages(messages[:3], [url])


def test_earlier_images_go_with_the_messages_they_were_shared_with() -> None:
    red, blue, green = (image_data_uri(decode_image(png(c), name="x.png")) for c in
                        [(200, 30, 30), (30, 30, 200), (30, 200, 30)])
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "this one?"),
                ChatMessage("assistant", "red"), ChatMessage("user", "and these?"),
                ChatMessage("assistant", "blue"), ChatMessage("user", "compare all")]
    out = chat_messages(messages, [green], earlier_urls={1: [red], 3: [blue, red]})
    urls = [[p["image_url"]["url"] for p in m["content"] if p["type"] == "image_url"]
            for m in out if m["role"] == "user"]
    assert urls == [[red], [blue, red], [green]]
    assert out[3]["content"][-1] == {"type": "text", "text": "and these?"}  # images before the text


def test_images_are_decoded_the_safe_way(tmp_path: Path) -> None:
    from assistant.images.errors import ImageError

    (tmp_path / "big.png").write_bytes(png((0, 0, 255), (3000, 1000)))
    (tmp_path / "fake.png").write_bytes(b"%PDF-1.4 not an image")
    [image] = load_images([tmp_path / "big.png"], max_side=1024)
    assert image.image.size == (1024, 341) and image.width == 3000
    with pytest.raises(ImageError):
        load_images([tmp_path / "fake.png"])


# --- llama.cpp for real: SmolLM2 with a generated projector -------------------------------------------

# ChatML whose user turns are lists of parts, with a slot for images (mtmd's marker arrives as text).
MULTIMODAL_CHATML = (
    "{# image parts arrive as text parts holding the media marker #}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.content is string %}{{ m.content }}"
    "{% else %}{% for p in m.content %}{% if p.type == 'text' %}{{ p.text }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, VisionPair]:
    """SmolLM2 (width 576) and the random-weight projector, named and templated three ways so each
    kind of handler runs in real llama.cpp."""
    pairs = {}
    for model, handler in [("tiny-llava-Q4_1", "Llava15ChatHandler"),
                           ("tiny-chat-Q4_1", "Qwen25VLChatHandler"), ("tiny-vlm-Q4_1", "MTMDChatHandler")]:
        folder = tmp_path_factory.mktemp(model)
        if handler == "MTMDChatHandler":
            template = {"tokenizer.chat_template": MULTIMODAL_CHATML}
            write_gguf_copy(smollm2_path(), folder / f"{model}.gguf", template)
        else:
            (folder / f"{model}.gguf").symlink_to(smollm2_path())
        write_tiny_llava(folder / "mmproj-model-f16.gguf", out_dim=576)
        pair = pair_in(folder, f"{model}.gguf", "mmproj-model-f16.gguf")
        assert pair.handler == handler, pair.handler_reason
        pairs[handler] = pair
    return pairs


@pytest.fixture(scope="module")
def tiny_vision(tiny_folders: dict[str, VisionPair]) -> VisionPair:
    return tiny_folders["Llava15ChatHandler"]


@pytest.fixture(scope="module")
def tiny_model(tiny_vision: VisionPair):
    model = VisionChatModel.load(tiny_vision, context_size=1024, threads=1)
    yield model
    model.close()


def never() -> bool:
    return False


def with_images(messages: list[ChatMessage], newest: list[Path] | None = None,
                earlier: dict[int, list[Path]] | None = None) -> list[ChatMessage]:
    """The messages with images on them, as the session sends them: the newest question's, and the
    earlier ones on the messages they were shared with."""
    by_index = dict(earlier or {})
    if newest:
        by_index[len(messages) - 1] = newest
    return [dataclasses.replace(m, images=tuple(str(p) for p in by_index.get(i, ())))
            for i, m in enumerate(messages)]


def kept_copy(folder: Path, colour: tuple[int, int, int], name: str = "x.png") -> Path:
    return kept.keep(decode_image(png(colour), name=name), folder).path


@pytest.mark.parametrize("handler", ["Llava15ChatHandler", "Qwen25VLChatHandler", "MTMDChatHandler"])
def test_real_llama_cpp_answers_with_an_image(tiny_folders: dict[str, VisionPair], handler: str,
                                              tmp_path: Path) -> None:
    """The plumbing, not the meaning (the projector's weights are random): the image is encoded
    into 4 embeddings (32 px, 16 px patches) that take prompt positions, and tokens stream."""
    model = VisionChatModel.load(tiny_folders[handler], context_size=1024, threads=1)
    try:
        assert model.plan.handler_name == handler and model.sees_images
        red = kept_copy(tmp_path, (200, 30, 30), "red.png")
        question = [ChatMessage("system", "Be brief."), ChatMessage("user", "What colour is this?")]
        options = GenerationOptions(max_tokens=8, temperature=0.0, seed=1)
        with_image, text_only = GenerationStats(), GenerationStats()
        answer = "".join(model.stream(with_images(question, [red]), options, with_image, never))
        "".join(model.stream(question, options, text_only, never))
    finally:
        model.close()
    assert answer.strip() and with_image.completion_tokens >= 1
    # 4 image positions, give or take a token where the text is split around the image
    assert 4 <= with_image.prompt_tokens - text_only.prompt_tokens <= 6
    assert with_image.first_token_s > 0 and with_image.template == handler


def test_stopping_mid_answer_leaves_the_model_usable(tiny_model: VisionChatModel, tmp_path: Path) -> None:
    image = kept_copy(tmp_path, (10, 200, 10), "green.png")
    question = with_images([ChatMessage("user", "Describe the picture in detail.")], [image])
    options = GenerationOptions(max_tokens=64, temperature=0.0, seed=1)
    stream = tiny_model.stream(question, options, GenerationStats(), never)
    next(stream)
    stream.close()  # the caller stops iterating
    asked: list[bool] = []
    stopped = GenerationStats()
    pieces = list(tiny_model.stream(question, options, stopped, lambda: asked.append(True) or True))
    assert len(pieces) == 1 and asked  # Stop is asked between tokens: the stream ends after the first
    again = GenerationStats()
    assert "".join(tiny_model.stream(question, GenerationOptions(max_tokens=4), again, never))
    assert again.completion_tokens >= 1 and tiny_model.prefill(question, options, never) == 0


FOLLOW_UP = [ChatMessage("system", "Be brief."), ChatMessage("user", "What colour is this?"),
             ChatMessage("assistant", "Red."), ChatMessage("user", "Two more: which is darker?"),
             ChatMessage("assistant", "The second."), ChatMessage("user", "And the border of the first?")]


def kept_copies(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        image = decode_image(png((30 * i, 100, 200 - 30 * i)), name=f"{i}.png")
        paths.append(kept.keep(image, folder).path)
    return paths


def test_a_follow_up_evaluates_the_earlier_images_again(tiny_model: VisionChatModel, tmp_path: Path) -> None:
    """Second turn of a conversation: the earlier images go through llama.cpp again (the handler
    clears the KV cache every question, so nothing stale is reused) and the answer still streams."""
    red, blue, dark = kept_copies(tmp_path, 3)
    options = GenerationOptions(max_tokens=4, temperature=0.0, seed=1)
    blind, again, gone = GenerationStats(), GenerationStats(), GenerationStats()
    shared = with_images(FOLLOW_UP, earlier={1: [red], 3: [blue, dark]})
    assert "".join(tiny_model.stream(FOLLOW_UP, options, blind, never))
    assert "".join(tiny_model.stream(shared, options, again, never))
    dark.unlink()  # a kept copy deleted by hand: skipped, the question still goes out
    assert "".join(tiny_model.stream(shared, options, gone, never))
    assert again.extra["earlier_images"] == 3 and again.extra["image_tokens"] == 12
    assert 12 <= again.prompt_tokens - blind.prompt_tokens <= 16  # 4 positions each, give or take a split
    assert gone.extra["earlier_images"] == 2 and gone.prompt_tokens < again.prompt_tokens
    assert again.reused_tokens == 0


def test_earlier_images_only_fill_the_context_left(tiny_model: VisionChatModel, tmp_path: Path) -> None:
    shots = kept_copies(tmp_path, 6)
    shared = with_images(FOLLOW_UP, earlier={1: shots[:2], 3: shots[2:6]})
    fitted = fit_to_context(FOLLOW_UP, tiny_model.count_tokens, 512)

    def earlier_sent(max_tokens: int) -> tuple[float, float]:
        stats = GenerationStats()
        stream = tiny_model.stream(shared, GenerationOptions(max_tokens=max_tokens), stats, never)
        next(stream)  # the prompt is evaluated; the answer itself does not matter here
        stream.close()
        return stats.extra["earlier_images"], stats.extra["image_tokens"]

    # Plenty of room: the cap (the 4 most recent, all from message 3).
    assert earlier_sent(16) == (MAX_EARLIER_IMAGES, 16)
    # Room for 9 tokens after the text history and the answer: the two newest images (4 tokens each).
    assert earlier_sent(tiny_model.context_size - fitted.tokens - 9) == (2, 8)
    assert earlier_sent(tiny_model.context_size - fitted.tokens - 3) == (0, 0)


def test_images_that_do_not_fit_the_context(tiny_vision: VisionPair, tmp_path: Path) -> None:
    model = VisionChatModel.load(tiny_vision, context_size=64, threads=1)
    try:
        images = [kept_copy(tmp_path, (i * 20, 0, 0), f"{i}.png") for i in range(12)]
        question = with_images([ChatMessage("user", "Compare these. " * 8)], images)
        with pytest.raises(PromptTooLong):
            "".join(model.stream(question, GenerationOptions(max_tokens=8), GenerationStats(), never))
    finally:
        model.close()


def test_a_projector_llama_cpp_refuses_is_named(tmp_path: Path) -> None:
    """A projector type this llama.cpp does not know passes the Python checks; llama.cpp's refusal
    becomes a ModelError at load time, not at the first question."""
    (tmp_path / "tiny-llava-Q4_1.gguf").symlink_to(smollm2_path())
    write_projector(tmp_path / "mmproj-tiny-llava-f16.gguf", ptype="future_projector", out_dim=576)
    pair = pair_in(tmp_path, "tiny-llava-Q4_1.gguf", "mmproj-tiny-llava-f16.gguf")
    with pytest.raises(ModelError) as info:
        VisionChatModel.load(pair, context_size=512, threads=1)
    msg = str(info.value)
    assert "could not load the vision projector mmproj-tiny-llava-f16.gguf" in msg
    assert "'future_projector' may need a newer llama.cpp" in msg


# --- a real vision model, when the user provides one ---------------------------------------------------

def real_pair() -> VisionPair:
    folder = os.environ.get("ASSISTANT_VISION_MODEL_DIR")
    if not folder:
        pytest.skip("no vision model: set ASSISTANT_VISION_MODEL_DIR to a folder with a vision GGUF and "
                    "its mmproj (none can be downloaded from any package registry)")
    scan = scan_vision([Path(folder)])
    if not scan.pairs:
        reasons = "; ".join(why for _, why in scan.unpaired_projectors) or "no projector found"
        pytest.skip(f"no vision pair in {folder}: {reasons}")
    return scan.pairs[0]


def test_real_vision_model_names_the_colour() -> None:
    pair = real_pair()
    image = Image.new("RGB", (448, 448), (220, 20, 20))
    ImageDraw.Draw(image).ellipse((160, 160, 290, 290), fill=(255, 255, 255))  # not a flat field
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    decoded = decode_image(buffer.getvalue(), name="red.png")
    model = VisionChatModel.load(pair, context_size=4096, threads=0)
    try:
        stats = GenerationStats()
        answer = "".join(model.stream(
            [ChatMessage("user", "What is the main background colour of this image? Answer in one word.")],
            [decoded], GenerationOptions(max_tokens=16, temperature=0.0, seed=1), stats))
    finally:
        model.close()
    assert "red" in answer.lower(), answer
    assert stats.prompt_tokens > 20
