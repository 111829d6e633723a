"""Questions about a recording: the transcript as grounding, split into parts when it is too long.

Pure functions (no model, no Qt). A transcript that fits the context window goes to the model whole,
inside a clearly delimited block. A longer one is never cut: it is split at segment boundaries into
parts, each part is summarised with the user's question in mind (map), and the question is then asked
over those part summaries (reduce). When even the summaries do not fit, they are grouped and summarised
again, so any length ends in one prompt that fits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.prompt.conversation import MAX_CHARS_PER_TOKEN, PER_MESSAGE_OVERHEAD_TOKENS
from assistant.protocols import Segment

logger = logging.getLogger(__name__)

DEFAULT_QUESTION = "Summarise this recording."
TRANSCRIPT_INSTRUCTION = "Answer using the transcript above."
SUMMARIES_INSTRUCTION = "Answer using these summaries."

# MAX_CHARS_PER_TOKEN is an optimistic bound (used to refuse huge pastes cheaply). Planning parts needs
# the opposite, a pessimistic one: timestamps and names tokenize to ~1 token per 1-2 chars, so a part
# sized with 6 chars/token would be refused by the engine's real tokenizer. 2.5 keeps parts safely inside.
SAFE_CHARS_PER_TOKEN = 2.5
assert SAFE_CHARS_PER_TOKEN < MAX_CHARS_PER_TOKEN

# Tokens kept free for chat-template markers and estimation error in every prompt we plan.
PROMPT_MARGIN_TOKENS = 2 * PER_MESSAGE_OVERHEAD_TOKENS + 16
# A part summary shorter than this says too little to answer from; below it we reduce in rounds instead.
MIN_SUMMARY_TOKENS = 48


def format_time(seconds: float) -> str:
    """mm:ss; minutes keep counting past 59 so long recordings stay readable and sortable."""
    whole = max(0, int(seconds))
    minutes, secs = divmod(whole, 60)
    return f"{minutes:02d}:{secs:02d}"


def format_segment(segment: Segment) -> str:
    return f"[{format_time(segment.start)}] {segment.text.strip()}"


def format_transcript(segments: Sequence[Segment]) -> str:
    """One `[mm:ss] text` line per segment; segments without words are left out."""
    return "\n".join(format_segment(s) for s in segments if s.text.strip())


def has_speech(segments: Sequence[Segment]) -> bool:
    return any(s.text.strip() for s in segments)


def transcript_block(transcript_text: str, file_name: str) -> str:
    """The transcript between markers, so the model can tell it from the question."""
    return f"Transcript of {file_name}:\n<<<\n{transcript_text.strip()}\n>>>"


def build_question(transcript_text: str, file_name: str, question: str) -> str:
    """The user message: the transcript between markers, then what the user asked."""
    return (
        f"{transcript_block(transcript_text, file_name)}\n\n"
        f"{TRANSCRIPT_INSTRUCTION}\n"
        f"Question: {question.strip() or DEFAULT_QUESTION}"
    )


def build_part_request(part_text: str, file_name: str, index: int, total: int, question: str) -> str:
    """The map step: what one part says that matters for the question (index counts from 1)."""
    return (
        f"Transcript of {file_name}, part {index} of {total}:\n"
        "<<<\n"
        f"{part_text.strip()}\n"
        ">>>\n\n"
        "Summarise what this part of the recording says that is relevant to: "
        f"{question.strip() or DEFAULT_QUESTION}"
    )


def join_summaries(summaries: Sequence[str]) -> str:
    """Part summaries in recording order, numbered from 1."""
    return "\n\n".join(f"Part {i}: {text.strip()}" for i, text in enumerate(summaries, start=1))


def summaries_block(joined: str, file_name: str, parts: int) -> str:
    """The part summaries (as `join_summaries` made them) between markers, saying why they are there."""
    return (
        f"The recording {file_name} was too long to read at once, so it was summarised in "
        f"{parts} parts:\n<<<\n{joined}\n>>>"
    )


def build_final_question(summaries: Sequence[str], file_name: str, question: str) -> str:
    """The reduce step: the question over the part summaries, in recording order."""
    return (
        f"{summaries_block(join_summaries(summaries), file_name, len(summaries))}\n\n"
        f"{SUMMARIES_INSTRUCTION}\n"
        f"Question: {question.strip() or DEFAULT_QUESTION}"
    )


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate, so what we plan as fitting really fits."""
    return math.ceil(len(text) / SAFE_CHARS_PER_TOKEN)


def prompt_budget(context_size: int, max_answer_tokens: int, system_prompt: str) -> int:
    """Tokens left for the user message: context − answer − system prompt − template margin."""
    return context_size - max_answer_tokens - estimate_tokens(system_prompt) - PROMPT_MARGIN_TOKENS


def fits(prompt: str, budget_tokens: int) -> bool:
    return estimate_tokens(prompt) <= budget_tokens


def split_transcript(segments: Sequence[Segment], max_chars: int) -> list[list[Segment]]:
    """Consecutive segments grouped so each group's formatted transcript is at most `max_chars`.

    Parts end at segment boundaries; only a single segment longer than a whole part (rare: Whisper
    segments are under 30 s) is cut, at word boundaries, into pieces that keep its start time.
    """
    if max_chars < 16:
        raise ValueError(f"max_chars={max_chars} leaves no room for a transcript line")
    parts: list[list[Segment]] = []
    current: list[Segment] = []
    used = 0
    for segment in segments:
        if not segment.text.strip():
            continue
        for piece in _pieces(segment, max_chars):
            cost = len(format_segment(piece)) + (1 if current else 0)  # +1: the newline between lines
            if current and used + cost > max_chars:
                parts.append(current)
                current, used = [], 0
                cost -= 1
            current.append(piece)
            used += cost
    if current:
        parts.append(current)
    return parts


def _pieces(segment: Segment, max_chars: int) -> list[Segment]:
    if len(format_segment(segment)) <= max_chars:
        return [segment]
    room = max_chars - len(format_segment(Segment(segment.start, segment.end, "")))
    pieces: list[Segment] = []
    line = ""
    for word in segment.text.split():
        while len(word) > room:  # a "word" longer than a part (no spaces): cut it hard
            if line:
                pieces.append(Segment(segment.start, segment.end, line))
                line = ""
            pieces.append(Segment(segment.start, segment.end, word[:room]))
            word = word[room:]
        candidate = f"{line} {word}" if line else word
        if len(candidate) > room and line:
            pieces.append(Segment(segment.start, segment.end, line))
            candidate = word
        line = candidate
    if line:
        pieces.append(Segment(segment.start, segment.end, line))
    return pieces


@dataclass(frozen=True)
class AudioQuestionPlan:
    """How to ask: `direct` is the one grounded message when it fits; otherwise `parts` are the map
    prompts (each fits alone) and `summary_tokens` caps each part summary's length."""

    file_name: str
    question: str
    direct: str | None
    parts: tuple[str, ...] = ()
    summary_tokens: int = 0

    @property
    def needs_parts(self) -> bool:
        return self.direct is None


def plan_parts(
    segments: Sequence[Segment],
    file_name: str,
    question: str,
    *,
    budget_tokens: int,
    max_answer_tokens: int,
) -> AudioQuestionPlan:
    """Ask directly when the grounded question fits `budget_tokens`, else split into map prompts."""
    question = question.strip() or DEFAULT_QUESTION
    direct = build_question(format_transcript(segments), file_name, question)
    if fits(direct, budget_tokens):
        return AudioQuestionPlan(file_name, question, direct)
    parts = split_texts_for_budget(segments, file_name, question, budget_tokens)
    return AudioQuestionPlan(
        file_name,
        question,
        None,
        tuple(parts),
        summary_tokens=summary_tokens_for(len(parts), file_name, question, budget_tokens, max_answer_tokens),
    )


def split_texts_for_budget(
    segments: Sequence[Segment], file_name: str, question: str, budget_tokens: int
) -> list[str]:
    """Map prompts for the transcript, each within the budget including its own wrapper text."""
    wrapper = build_part_request("", file_name, 999, 999, question)  # widest part numbers, empty body
    max_chars = int((budget_tokens - estimate_tokens(wrapper)) * SAFE_CHARS_PER_TOKEN)
    groups = split_transcript(segments, max_chars)
    total = len(groups)
    return [
        build_part_request(format_transcript(group), file_name, index, total, question)
        for index, group in enumerate(groups, start=1)
    ]


def summary_tokens_for(
    parts: int, file_name: str, question: str, budget_tokens: int, max_answer_tokens: int
) -> int:
    """Cap each summary so that, ideally, all of them fit the final prompt together."""
    wrapper = estimate_tokens(build_final_question([""] * parts, file_name, question))
    # Halved: generated prose runs ~4-5 chars per real token, which our pessimistic estimate counts as
    # ~2 tokens, and a summary that overshoots costs a whole extra reduce round.
    share = (budget_tokens - wrapper) // max(parts, 1) // 2
    return max(MIN_SUMMARY_TOKENS, min(max_answer_tokens, share))


def reduce_prompts(summaries: Sequence[str], file_name: str, question: str, budget_tokens: int) -> list[str]:
    """Summaries too long for one final prompt become fewer map prompts (one reduce round).

    Each prompt groups consecutive summaries; callers stop when this no longer shrinks the list.
    """
    as_segments = [Segment(0.0, 0.0, text) for text in summaries]
    wrapper = build_part_request("", file_name, 999, 999, question)
    max_chars = int((budget_tokens - estimate_tokens(wrapper)) * SAFE_CHARS_PER_TOKEN)
    groups = split_transcript(as_segments, max_chars)
    total = len(groups)
    return [
        build_part_request("\n".join(s.text for s in group), file_name, index, total, question)
        for index, group in enumerate(groups, start=1)
    ]
