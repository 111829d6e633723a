"""Grounding a question in a recording's transcript: formatting, splitting, and the map-reduce plan."""

from __future__ import annotations

import pytest

from assistant.prompt import audio_question as aq
from assistant.protocols import Segment


def seg(start: float, text: str) -> Segment:
    return Segment(start, start + 2.0, text)


def test_transcript_lines_are_minutes_and_seconds() -> None:
    segments = [seg(0, " Hello there."), seg(75.9, "Second line. "), seg(80, "   "), seg(3 * 3600, "Late.")]
    assert aq.format_transcript(segments) == "[00:00] Hello there.\n[01:15] Second line.\n[180:00] Late."
    assert aq.has_speech(segments)
    assert not aq.has_speech([seg(0, " "), seg(1, "")])


def test_question_is_delimited_and_defaults_to_a_summary() -> None:
    text = aq.build_question("[00:00] The park opens in June.", "interview.mp3", "When does it open?")
    assert text.startswith("Transcript of interview.mp3:\n<<<\n[00:00] The park opens in June.\n>>>")
    assert text.endswith("Question: When does it open?")
    assert aq.build_question("[00:00] x", "a.wav", "  ").endswith("Question: " + aq.DEFAULT_QUESTION)


def test_split_keeps_segments_whole_and_in_order() -> None:
    segments = [seg(i * 2, f"Sentence number {i} about the park.") for i in range(40)]
    parts = aq.split_transcript(segments, max_chars=200)
    assert len(parts) > 1
    assert [s for part in parts for s in part] == segments  # nothing lost, nothing reordered
    assert all(len(aq.format_transcript(part)) <= 200 for part in parts)


def test_split_cuts_only_a_segment_longer_than_a_part() -> None:
    long_text = " ".join(f"word{i}" for i in range(200))
    parts = aq.split_transcript([seg(5, long_text), seg(9, "short")], max_chars=120)
    assert all(len(aq.format_transcript(part)) <= 120 for part in parts)
    words = " ".join(s.text for part in parts for s in part).split()
    assert words == [*long_text.split(), "short"]
    assert all(s.start == 5 for part in parts[:-1] for s in part)
    with pytest.raises(ValueError):
        aq.split_transcript([seg(0, "x")], max_chars=4)


def test_budget_leaves_room_for_answer_and_system_prompt() -> None:
    assert aq.prompt_budget(4096, 1024, "") == 4096 - 1024 - aq.PROMPT_MARGIN_TOKENS
    assert aq.prompt_budget(4096, 1024, "x" * 250) == 4096 - 1024 - 100 - aq.PROMPT_MARGIN_TOKENS
    # The estimate is pessimistic compared with the cheap bound used to refuse huge pastes.
    assert aq.estimate_tokens("a" * 600) > 600 // aq.MAX_CHARS_PER_TOKEN


def test_short_transcript_is_asked_directly() -> None:
    plan = aq.plan_parts(
        [seg(0, "The park opens in June.")], "a.wav", "", budget_tokens=500, max_answer_tokens=64
    )
    assert not plan.needs_parts and plan.parts == ()
    assert plan.direct == aq.build_question("[00:00] The park opens in June.", "a.wav", aq.DEFAULT_QUESTION)


def test_long_transcript_is_split_into_parts_that_each_fit() -> None:
    segments = [seg(i * 3, f"Speaker talks about topic {i} and the park at length.") for i in range(200)]
    plan = aq.plan_parts(
        segments, "talk.mp3", "What about the park?", budget_tokens=400, max_answer_tokens=128
    )
    assert plan.needs_parts and len(plan.parts) > 2
    total = len(plan.parts)
    for index, prompt in enumerate(plan.parts, start=1):
        assert aq.fits(prompt, 400)
        assert f"Transcript of talk.mp3, part {index} of {total}:" in prompt
        assert prompt.endswith("relevant to: What about the park?")
    # Every segment's words appear in exactly one part, in order.
    joined = "\n".join(plan.parts)
    positions = [joined.index(f"topic {i} and") for i in range(200)]
    assert positions == sorted(positions)
    assert aq.MIN_SUMMARY_TOKENS <= plan.summary_tokens <= 128


def test_final_question_lists_part_summaries_in_order() -> None:
    final = aq.build_final_question(
        ["It opens in June.", "It has ducks."], "talk.mp3", "What about the park?"
    )
    assert "summarised in 2 parts" in final
    assert final.index("Part 1: It opens in June.") < final.index("Part 2: It has ducks.")
    assert final.endswith("Question: What about the park?")


def test_reduce_round_makes_fewer_prompts_that_fit() -> None:
    summaries = [f"Summary {i}: the park has a pond and a playground." for i in range(30)]
    prompts = aq.reduce_prompts(summaries, "talk.mp3", "What about the park?", budget_tokens=300)
    assert 1 < len(prompts) < len(summaries)
    assert all(aq.fits(p, 300) for p in prompts)
    assert all(f"Summary {i}:" in "\n".join(prompts) for i in range(30))
