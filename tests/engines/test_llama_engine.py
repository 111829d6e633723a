"""The llama.cpp engine in this process, with the real SmolLM2-135M model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.models.gguf import GGUFError
from assistant.models.gguf_writer import write_gguf_copy
from assistant.prompt.conversation import PromptTooLong
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats

pytest.importorskip("llama_cpp")
from model_files import smollm2_path

from assistant.engines.llama import LlamaChatModel

pytestmark = pytest.mark.timeout(180)

GREEDY = GenerationOptions(max_tokens=24, temperature=0.0, seed=0)
SYSTEM = ChatMessage("system", "You are a helpful assistant.")



@pytest.fixture(scope="module")
def model() -> Iterator[LlamaChatModel]:
    loaded = LlamaChatModel.load(smollm2_path(), context_size=2048, threads=1)
    yield loaded
    loaded.close()


def answer(
    model: LlamaChatModel, messages: list[ChatMessage], options: GenerationOptions = GREEDY
) -> tuple[str, GenerationStats]:
    stats = GenerationStats()
    text = "".join(model.stream(messages, options, stats, never))
    return text, stats


def never() -> bool:
    return False


def test_streams_text_with_the_gguf_template(model: LlamaChatModel) -> None:
    pieces = list(
        model.stream(
            [SYSTEM, ChatMessage("user", "What is the capital of France?")],
            GREEDY,
            stats := GenerationStats(),
            never,
        )
    )
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert stats.template == "gguf"
    assert stats.prompt_tokens > 10 and stats.completion_tokens > 0
    assert 0 < stats.first_token_s <= stats.total_s


def test_second_turn_reuses_the_prefix_only_when_enabled(model: LlamaChatModel) -> None:
    turn1 = [SYSTEM, ChatMessage("user", "Name a colour.")]
    model.prefix_reuse = True
    try:
        first, stats1 = answer(model, turn1)
        turn2 = [*turn1, ChatMessage("assistant", first), ChatMessage("user", "Name another one.")]
        _, stats2 = answer(model, turn2)
        assert stats2.reused_tokens >= stats1.prompt_tokens - 1
        assert stats2.reused_tokens < stats2.prompt_tokens

        model.prefix_reuse = False
        answer(model, turn1)
        _, stats_off = answer(model, turn2)
        assert stats_off.reused_tokens == 0
        assert stats_off.prompt_tokens == stats2.prompt_tokens
    finally:
        model.prefix_reuse = True


def test_history_is_trimmed_to_a_small_context() -> None:
    small = LlamaChatModel.load(smollm2_path(), context_size=512, threads=1)
    try:
        history: list[ChatMessage] = [SYSTEM]
        for index in range(12):
            history.append(ChatMessage("user", f"Question {index}: tell me about topic number {index}. " * 4))
            history.append(ChatMessage("assistant", f"Answer {index}: topic {index} is interesting. " * 4))
        newest = ChatMessage("user", "What is 2 + 2?")
        messages = [*history, newest]
        fitted, tokens, _template, _stops = small.prepare(messages, max_tokens=16)
        assert fitted.dropped > 0
        assert fitted.messages[0] == SYSTEM and fitted.messages[-1] == newest
        assert len(tokens) <= 512 - 16
        text, stats = answer(small, messages, GenerationOptions(max_tokens=16, temperature=0.0))
        assert text.strip()
        assert stats.dropped_messages == fitted.dropped
    finally:
        small.close()


def test_a_megabyte_message_is_refused_before_it_is_tokenized(
    model: LlamaChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused on its length in characters: tokenizing a megabyte is what took seconds."""
    tokenized: list[int] = []  # the length of every text given to the tokenizer
    for name in ("count_tokens", "tokenize_prompt"):
        real = getattr(model, name)
        monkeypatch.setattr(model, name, lambda text, real=real: (tokenized.append(len(text)), real(text))[1])
    huge = ChatMessage("user", "word " * 200_000)
    with pytest.raises(PromptTooLong):
        answer(model, [SYSTEM, huge])
    assert all(length < 10_000 for length in tokenized), tokenized


@pytest.mark.parametrize(
    "payload",
    [
        "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}"
        "{{ joiner.__init__.__globals__.os.system('touch MARKER') }}",
        "{% for m in messages %}{{ m.content.__class__.__base__.__subclasses__() }}{% endfor %}"
        "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    ],
)
def test_hostile_template_does_not_run_and_answers_with_fallback(tmp_path: Path, payload: str) -> None:
    marker = Path("/tmp") / f"PWNED_{uuid.uuid4().hex}"
    hostile = tmp_path / "hostile.gguf"
    write_gguf_copy(
        smollm2_path(), hostile, {"tokenizer.chat_template": payload.replace("MARKER", str(marker))}
    )
    hostile_model = LlamaChatModel.load(hostile, context_size=1024, threads=1)
    try:
        text, stats = answer(hostile_model, [SYSTEM, ChatMessage("user", "Say hello.")])
    finally:
        hostile_model.close()
    assert not marker.exists()
    assert stats.template == "fallback"
    assert text.strip()


@pytest.mark.parametrize("template", ["", "{% for message in messages %}{{ message.content "])
def test_missing_or_broken_template_falls_back_to_chatml(tmp_path: Path, template: str) -> None:
    copy = tmp_path / "no-template.gguf"
    write_gguf_copy(smollm2_path(), copy, {"tokenizer.chat_template": template})
    fallback_model = LlamaChatModel.load(copy, context_size=1024, threads=1)
    try:
        text, stats = answer(fallback_model, [SYSTEM, ChatMessage("user", "Say hello.")])
    finally:
        fallback_model.close()
    assert stats.template == "fallback"
    assert text.strip()


def test_a_damaged_file_never_reaches_llama_cpp(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    with smollm2_path().open("rb") as source:
        truncated.write_bytes(source.read(3_000_000))
    with pytest.raises(GGUFError, match="truncated"):
        LlamaChatModel.load(truncated)


def test_a_long_prompt_evaluation_stops_between_batches_and_its_work_is_kept(model: LlamaChatModel) -> None:
    """Stop is asked between batches of the prompt (one llama.cpp eval of the whole prompt could not be
    stopped); what was evaluated stays in the KV cache for the next question with the same start."""
    long = [SYSTEM, ChatMessage("user", "Summarise this. " + "The quick brown fox jumps. " * 180)]
    model.prefix_reuse = True
    model.llm.reset()
    asked = 0

    def stop_on_second_batch() -> bool:
        nonlocal asked
        asked += 1
        return asked > 1

    stats = GenerationStats()
    assert list(model.stream(long, GREEDY, stats, stop_on_second_batch)) == []
    batch = model.llm.n_batch
    assert stats.prompt_tokens > 2 * batch and stats.completion_tokens == 0
    assert model.llm.n_tokens == batch  # one batch evaluated, then Stop
    _, again = answer(model, long, GenerationOptions(max_tokens=4, temperature=0.0))
    assert again.reused_tokens == batch and again.completion_tokens > 0
