"""Groundings rendered into the prompt, and the job that makes them from attached recordings.

The job is a state machine over engine events, so its planning (direct, summarised in parts, several
recordings sharing the context, Cancel racing a finished step) is checked here with scripted events
(tests/scripted_engine.py): exact, instant and repeatable. The real engine process runs the same job in
tests/ui/test_window_attachments.py and tests/cli/test_ask_audio.py.
"""

from __future__ import annotations

import pytest
from scripted_engine import make_job

from assistant.chat.grounding_job import GroundingError, check_room
from assistant.host.messages import Done, Failed, Progress, Token, Transcript
from assistant.prompt import audio_question as aq
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding, default_question, grounded_question
from assistant.protocols import GenerationStats, Segment
from assistant.settings import Settings

CLIP = Attachment("audio", "/recordings/park.wav", "park.wav", 1000)
OTHER = Attachment("audio", "/recordings/pond.wav", "pond.wav", 1000)


# ---- rendering -------------------------------------------------------------------------------------


def test_one_transcript_is_asked_exactly_as_ask_audio_always_did() -> None:
    transcript = Grounding("transcript", "park.wav", "[00:00] The park opens in June.")
    assert grounded_question([transcript], "When?") == aq.build_question(transcript.text, "park.wav", "When?")


def test_summaries_are_asked_exactly_as_the_reduce_step() -> None:
    summaries = ["It opens in June.", "It has a pond."]
    groundings = [
        Grounding("transcript", "park.wav", "[00:00] long…", sent=False),  # shown, not sent
        Grounding("summary", "park.wav", aq.join_summaries(summaries), parts=2),
    ]
    assert grounded_question(groundings, "When?") == aq.build_final_question(summaries, "park.wav", "When?")


def test_several_groundings_go_together_in_order() -> None:
    prompt = grounded_question(
        [Grounding("transcript", "a.wav", "[00:00] one"), Grounding("transcript", "b.wav", "[00:00] two")],
        "Compare them.",
    )
    assert prompt.index("Transcript of a.wav:") < prompt.index("Transcript of b.wav:")
    assert prompt.endswith("Answer using the material above.\nQuestion: Compare them.")
    # A kind this version does not know still arrives clearly delimited (a file from a newer version).
    assert "<<<\nsome text\n>>>" in grounded_question([Grounding("ocr", "r.png", "some text")], "Total?")
    assert grounded_question([Grounding("transcript", "a.wav", "x", sent=False)], "Hi") == "Hi"


def test_default_questions_and_headings() -> None:
    assert default_question([CLIP]) == aq.DEFAULT_QUESTION
    assert default_question([CLIP, OTHER]) == "Summarise these recordings."
    assert Grounding("transcript", "a.wav", "x").heading() == "Transcript of a.wav"
    assert "the image itself was sent" in Grounding("image", "a.png", "", seen=True).heading()
    assert "the model got the summaries" in Grounding("transcript", "a.wav", "x", sent=False).heading()
    assert Grounding("summary", "a.wav", "x", parts=3).heading().startswith("Summaries of a.wav (3 parts)")


# ---- the job ---------------------------------------------------------------------------------------


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"speech_model": "whisper-tiny.en", "system_prompt": "", "threads": 1}
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def done(request_id: int, status: str = "complete") -> Done:
    return Done(request_id, status, GenerationStats())  # type: ignore[arg-type]


def speech(request_id: int, *texts: str) -> list[Transcript]:
    return [Transcript(request_id, Segment(4.0 * i, 4.0 * i + 3, text)) for i, text in enumerate(texts)]


def test_a_short_recording_is_transcribed_then_asked_about_whole() -> None:
    job, client = make_job([CLIP], "  ")
    first = job.start()
    assert first.message == "Transcribing park.wav" and not first.finished and first.attachment == 0
    kind, request = client.requests[0]
    assert kind == "transcribe" and (request.model, request.audio_path) == ("whisper-tiny.en", CLIP.path)
    update = job.handle(Progress(1, "transcribe", 3, 6, "Transcribing"))
    assert update is not None and (update.done, update.total) == (3, 6) and update.step == first.step
    assert job.handle(Token(99, "someone else's answer")) is None
    for event in speech(1, " The park opens in June.", " It has a pond."):
        job.handle(event)
    final = job.handle(done(1))
    assert final is not None and final.finished and final.error is None and final.result is not None
    result = final.result
    assert result.question == aq.DEFAULT_QUESTION  # nothing typed: the default question
    transcript = "[00:00] The park opens in June.\n[00:04] It has a pond."
    assert result.groundings == (Grounding("transcript", "park.wav", transcript),)
    assert result.prompt == aq.build_question(transcript, "park.wav", aq.DEFAULT_QUESTION)
    assert result.attachments == (CLIP,) and not job.waiting
    assert len(client.requests) == 1  # no summaries needed


def test_silence_a_failure_and_a_cancel_each_end_with_nothing_to_send() -> None:
    job, _ = make_job([CLIP], "What?")
    job.start()
    job.handle(Transcript(1, Segment(0, 1, "   ")))
    silent = job.handle(done(1))
    assert silent is not None and silent.error == f"No speech was recognised in {CLIP.path}."

    job, _ = make_job([CLIP], "What?")
    job.start()
    failed = job.handle(Failed(1, "Cannot read audio file /recordings/park.wav: it is damaged."))
    assert failed is not None and failed.error and failed.error.startswith("Cannot read audio file")
    assert failed.result is None and failed.exit_code == 1

    job, client = make_job([CLIP, OTHER], "What?")
    job.start()
    assert job.cancel() and client.cancelled == [1]
    # The first recording finished just before the engine saw Cancel: the second one is not started.
    for event in speech(1, "Hello."):
        job.handle(event)
    cancelled = job.handle(done(1))
    assert cancelled is not None and cancelled.cancelled and cancelled.exit_code == 130
    assert len(client.requests) == 1 and not job.cancel()


def test_a_long_recording_is_summarised_in_parts_and_the_transcript_kept() -> None:
    job, client = make_job([CLIP], "What about the pond?", context_size=512, max_answer_tokens=128)
    job.start()
    lines = [f"Sentence number {i} says the pond by the park has ducks and geese." for i in range(60)]
    for event in speech(1, *lines):
        job.handle(event)
    update = job.handle(done(1))
    assert update is not None and not update.finished and update.message.startswith("Summarising part 1/")
    summaries = []
    while not update.finished:
        kind, request = client.requests[-1]
        assert kind == "chat" and "part" in request.messages[-1].content
        assert request.options.max_tokens <= 128
        summaries.append(f"Ducks, part {len(summaries) + 1}.")
        job.handle(Token(request.request_id, summaries[-1]))
        update = job.handle(done(request.request_id))
    result = update.result
    assert result is not None and len(summaries) > 1
    transcript, summary = result.groundings
    assert transcript.kind == "transcript" and not transcript.sent
    assert "[03:56] Sentence number 59" in transcript.text
    assert summary == Grounding("summary", "park.wav", aq.join_summaries(summaries), parts=len(summaries))
    assert result.prompt == aq.build_final_question(summaries, "park.wav", "What about the pond?")
    assert aq.fits(result.prompt, aq.prompt_budget(512, 128, ""))


def test_two_recordings_are_asked_about_together() -> None:
    job, client = make_job([CLIP, OTHER], "Compare them.")
    job.start()
    job.handle(speech(1, "The park opens in June.")[0])
    second = job.handle(done(1))
    assert second is not None and second.message == "Transcribing pond.wav" and second.attachment == 1
    assert client.requests[1][1].audio_path == OTHER.path
    job.handle(speech(2, "The pond has ducks.")[0])
    final = job.handle(done(2))
    assert final is not None and final.result is not None
    assert [g.source for g in final.result.groundings] == ["park.wav", "pond.wav"]
    assert final.result.prompt.endswith("Answer using the material above.\nQuestion: Compare them.")


def test_too_small_a_context_is_refused_before_any_work() -> None:
    with pytest.raises(GroundingError, match="too little room") as refused:
        check_room(settings(context_size=512, max_answer_tokens=1024))
    assert refused.value.exit_code == 2
    job, client = make_job([CLIP], context_size=512, max_answer_tokens=1024)
    update = job.start()
    assert update.finished and update.exit_code == 2 and client.requests == []
