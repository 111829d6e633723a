"""The start of an image question's prompt is evaluated in the engine while the image is read (issue 14),
through the real engine process with SmolLM2: at Send it is found in the KV cache; Cancel stops both;
the answer's prompt is the same as without it. Timing is the benchmark's job (`bench vision --parts
drop`), never a test's."""

from __future__ import annotations

from pathlib import Path

import pytest
from error_screenshot import MESSAGE, save_error_dialog
from model_files import smollm2_path

from assistant.chat.grounding_job import GroundingJob
from assistant.chat.session import ChatSession, TurnUpdate
from assistant.host.client import EngineClient, Inbox, load_model
from assistant.host.messages import Done, Event, Failed, ImagePerceived, PerceiveRequest, result_of
from assistant.prompt.attachments import Attachment, from_path
from assistant.prompt.grounding import prompt_start
from assistant.settings import Settings

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.timeout(300)

QUESTION = "What does the error say?"


def long_system_prompt(topic: str) -> str:
    """A system prompt no earlier request evaluated, long enough that finding it cached shows."""
    return (f"You are a careful assistant for questions about {topic}. " * 40).strip()


@pytest.fixture()
def engine() -> tuple[EngineClient, Inbox]:
    inbox = Inbox()
    client = EngineClient(inbox.deliver, stop_timeout_s=30.0)
    client.start()
    yield client, inbox
    client.shutdown()


def ask(client: EngineClient, inbox: Inbox, session: ChatSession, shot: Path, library: Path,
        overlap: bool) -> dict:
    """Drop and ask at once, as `bench vision --parts drop` does; the answer's timings."""
    job = GroundingJob(client, session.settings, library, [from_path(shot)], QUESTION,
                       prefill_for=(lambda start: session.prefill_request(None, start)) if overlap else None)
    job.start()
    inbox.pump_until(lambda: job.finished)
    assert job.last_update.result is not None, job.last_update.error
    finished: list[TurnUpdate] = []

    def listener(_event: Event, update: TurnUpdate | None) -> None:
        if update is not None and update.finished:
            finished.append(update)

    session.send(None, QUESTION, grounded=job.last_update.result, on_event=listener)
    inbox.pump_until(lambda: bool(finished))
    assert finished[0].status == "complete", finished[0].error
    return {**finished[0].timings, "prompt": job.last_update.result.prompt}


def test_the_prompts_start_is_in_the_kv_cache_when_the_question_is_sent(
        engine: tuple[EngineClient, Inbox], tmp_path: Path) -> None:
    client, inbox = engine
    shot = save_error_dialog(tmp_path / "error.png")
    results = {}
    for overlap, topic in ((False, "installers"), (True, "file permissions")):
        settings = Settings(model=str(smollm2_path()), threads=1, max_answer_tokens=8,
                            system_prompt=long_system_prompt(topic))
        session = ChatSession(None, client, settings, tmp_path)
        assert not isinstance(load_model(client, session.engine_config()), Failed)
        results[overlap] = ask(client, inbox, session, shot, tmp_path, overlap)
    start = prompt_start([from_path(shot)])
    assert start is not None and results[True]["prompt"].startswith(start)
    assert MESSAGE in results[True]["prompt"]
    # Without the overlap the new system prompt was evaluated at Send; with it, the system prompt and the
    # image block's header (hundreds of tokens) were found in the cache.
    assert results[False]["reused_tokens"] < 10
    assert results[True]["reused_tokens"] > 300
    left = {overlap: t["prompt_tokens"] - t["reused_tokens"] for overlap, t in results.items()}
    assert left[True] < left[False] - 300


def test_cancel_stops_the_reading_and_the_prompts_start_and_the_engine_goes_on(
        engine: tuple[EngineClient, Inbox], tmp_path: Path) -> None:
    client, inbox = engine
    shot = save_error_dialog(tmp_path / "error.png")
    settings = Settings(model=str(smollm2_path()), threads=1, context_size=8192,
                        system_prompt=long_system_prompt("very long conversations") * 12)
    session = ChatSession(None, client, settings, tmp_path)
    assert not isinstance(load_model(client, session.engine_config()), Failed)
    events: list[Event] = []
    request = PerceiveRequest(str(shot), str(tmp_path), 1, prefill=session.prefill_request(None, "Text"))
    ticket = client.send(request, events.append)
    ticket.cancel()
    inbox.pump_until(lambda: any(isinstance(e, (Done, Failed)) for e in events))
    (end,) = [e for e in events if isinstance(e, (Done, Failed))]
    assert isinstance(end, Done) and end.status == "stopped"
    assert not any(result_of(e, ImagePerceived) for e in events)
    # The engine is free and answers the next question.
    settings = Settings(model=str(smollm2_path()), threads=1, max_answer_tokens=4)
    again = ask(client, inbox, ChatSession(None, client, settings, tmp_path), shot, tmp_path, overlap=True)
    assert again["prompt_tokens"] > 0


def test_an_open_ended_start_stops_at_its_text_and_keeps_a_longer_cached_prompt() -> None:
    """Evaluating the start must not overwrite what the cache already holds beyond it: the next
    screenshot's text may begin the same way (here the whole question is cached)."""
    from assistant.engines.llama import LlamaChatModel
    from assistant.protocols import ChatMessage, GenerationOptions

    model = LlamaChatModel.load(smollm2_path(), context_size=2048, threads=1)
    try:
        system = ChatMessage("system", long_system_prompt("screenshots"))
        start = prompt_start([Attachment("image", "/photos/shot.png", "shot.png", 1)]) or ""
        options = GenerationOptions(max_tokens=8)
        whole = [system, ChatMessage("user", start + "Ticket 4711-001\n>>>\n\nQuestion: which ticket?")]
        assert model.prefill(whole, options, lambda: False) > 300
        cached = model.llm.n_tokens
        opened = [system, ChatMessage("user", start)]
        assert model.prefill(opened, options, lambda: False, open_end=True) == 0  # all of it is cached
        assert model.llm.n_tokens == cached  # nothing was overwritten
        closed = model.prefill(opened, options, lambda: False)  # closing the message evaluates its end
        assert 0 < closed < 10 and model.llm.n_tokens < cached
    finally:
        model.close()


def test_an_unspoken_question_is_evaluated_up_to_where_its_text_will_begin() -> None:
    """Push-to-talk's key press: the conversation is evaluated before a word is heard; the question
    that comes later finds all of it in the cache and only its own text and the message's end are left."""
    from assistant.engines.llama import LlamaChatModel
    from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats

    model = LlamaChatModel.load(smollm2_path(), context_size=2048, threads=1)
    try:
        system = ChatMessage("system", long_system_prompt("spoken questions"))
        options = GenerationOptions(max_tokens=2, temperature=0.0)
        evaluated = model.prefill([system, ChatMessage("user", "")], options, lambda: False, open_end=True)
        assert evaluated > 300
        prompt, _, _ = model.render([system, ChatMessage("user", "")])
        opening = "<|im_start|>user\n"  # SmolLM2's ChatML: the question's text comes right after this
        start = model.tokenize_prompt(prompt[: prompt.rindex(opening) + len(opening)])
        assert list(model.llm._input_ids[: model.llm.n_tokens]) == start  # not the message's end
        stats = GenerationStats()
        asked = [system, ChatMessage("user", "What is the capital of France?")]
        "".join(model.stream(asked, options, stats, lambda: False))
        assert stats.reused_tokens == evaluated and stats.prompt_tokens - stats.reused_tokens < 20
    finally:
        model.close()
