"""Questions answered from the user's documents: numbered passages, citation rules, and citations back.

Pure functions (no model, no Qt, no index). The engine process finds the passages (`documents/`); this
module decides how the model sees them and what the user sees afterwards:

- each passage is a numbered source with its locator (`[2] report.pdf, page 3`), its text between
  markers, so the model can tell the documents from the question and name where a fact came from;
- the instruction asks for inline citations ([1], [2]) and for a plain "the documents do not cover
  this" when the passages do not hold the answer: a small model invents less when told what to do
  instead;
- `fit_passages` keeps the best-ranked passages that fit the share of the context left for them, and
  numbers them in that order;
- after the answer, `cited` maps the model's [n] back to the passages it really used (in the order it
  first cited them; "[1][2]", "[1, 2]" and "[1-3]" are read too, numbers that name no passage are
  ignored), for the "Sources:" block and the window's clickable sources.

Whether anything relevant was found at all is decided before the model is asked: the engine's search
marks each passage relevant or not from its raw scores (`documents.search`; a fused rank says which
passage is best, never whether the best is any good), and a question with no relevant passage gets
`NOT_COVERED` without a model inventing an answer. Passages that are given are still no promise, so the
instruction also tells the model to say when they do not hold the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from assistant.prompt.audio_question import estimate_tokens

DOCUMENTS_INSTRUCTION = (
    "Answer the question using only the numbered passages above. After each fact you use, cite its "
    "passage number in square brackets, like [1] or [2]. If the passages do not contain the answer, "
    "say plainly that the documents do not cover it, and do not guess."
)
# With other material in the same message (an image's text, a transcript).
MIXED_INSTRUCTION = (
    "Answer using the material above. When you use a numbered passage, cite its number in square "
    "brackets, like [1]. If the material does not contain the answer, say so plainly, and do not guess."
)
# Said when retrieval found nothing close enough to the question: no model is asked.
NOT_COVERED = "Your documents do not cover this: no passage in them matches the question closely enough."
NO_DOCUMENTS = "You have no documents indexed yet. Add files or folders first (Documents panel, or " \
               "`assistant docs add PATH`)."
DEFAULT_QUESTION = "Summarise this document."

# Passages may take this share of the prompt budget; the rest stays for the conversation before it, so a
# follow-up still sees the previous question and answer.
PASSAGE_SHARE = 0.7
# However much room there is: more passages dilute a small model's attention more than they help.
MAX_PASSAGES = 6

# [1], [1][2], [1, 2], [1,2; 3], [1-3] / [1–3]; not [a], not a year such as [2024] when no such passage.
_CITATION = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|[-–])\s*\d+)*)\s*\]")
_NUMBER_OR_RANGE = re.compile(r"(\d+)(?:\s*[-–]\s*(\d+))?")
_MAX_RANGE = 50  # "[1-1000]" is not a citation anyone means


@dataclass(frozen=True)
class Passage:
    """One passage the model may be shown: where it comes from and what it says.

    `page` counts from 1 (PDF), 0 when the format has no pages; `heading` is the section it sits under
    (Markdown, DOCX, HTML), "" when none; `first_line`/`last_line` count from 1 (text and code), 0 when
    unknown. `relevant` is the search's verdict that the passage is about the question at all.
    """

    name: str  # the file's name, as the user and the model see it
    path: str  # the file on disk, to open it at the passage
    text: str
    page: int = 0
    heading: str = ""
    first_line: int = 0
    last_line: int = 0
    number: int = 0  # the citation number, once numbered (`fit_passages`)
    relevant: bool = True
    place: str = ""  # the locator as stored with a question, when it was read back from the history

    @property
    def locator(self) -> str:
        """Where in the file: "page 3", "section Budget 2031", "lines 10-24", or "" for the whole file."""
        return self.place or locator(self.page, self.heading, self.first_line, self.last_line)

    @property
    def label(self) -> str:
        """"report.pdf, page 3": what the sources list and the window show."""
        return source_label(self.name, self.locator)


def locator(page: int = 0, heading: str = "", first_line: int = 0, last_line: int = 0) -> str:
    """"page 3", "“Install › Linux”", "lines 10–42" (as `documents.types.Locator.label` writes them)."""
    if page > 0:
        return f"page {page}"
    heading = " ".join(heading.split())
    if heading:
        return f"“{heading}”" if len(heading) <= 80 else f"“{heading[:79]}…”"
    if first_line > 0:
        if last_line > first_line:
            return f"lines {first_line}–{last_line}"
        return f"line {first_line}"
    return ""


def source_label(name: str, where: str) -> str:
    return f"{name}, {where}" if where else name


def relevant(passages: Iterable[Passage]) -> list[Passage]:
    """The passages the search found to be about the question at all, in their order."""
    return [passage for passage in passages if passage.relevant]


def passage_block(passage: Passage) -> str:
    """One numbered source: its label on the first line, then its text between markers."""
    return f"[{passage.number}] {passage.label}\n<<<\n{passage.text.strip()}\n>>>"


def passages_block(passages: Sequence[Passage]) -> str:
    body = "\n\n".join(passage_block(p) for p in passages)
    return f"Numbered passages from the user's documents:\n\n{body}"


def build_question(passages: Sequence[Passage], question: str) -> str:
    """The user message for a question answered from `passages` alone."""
    return f"{passages_block(passages)}\n\n{DOCUMENTS_INSTRUCTION}\nQuestion: {question.strip()}"


def fit_passages(
    passages: Sequence[Passage], question: str, budget_tokens: int, *, first_number: int = 1,
    max_passages: int = MAX_PASSAGES, reserved_tokens: int = 0,
) -> list[Passage]:
    """The best-ranked passages (in the given order) whose prompt fits `budget_tokens`, numbered.

    `reserved_tokens` is what other material in the same message takes (an image's text, say). A
    passage too long to fit is skipped for a shorter one further down, never cut: a cut passage could
    drop the very sentence that answers, and its locator would still claim the whole page.
    """
    room = int(budget_tokens * PASSAGE_SHARE) - reserved_tokens
    room -= estimate_tokens(f"Numbered passages from the user's documents:\n\n\n\n{DOCUMENTS_INSTRUCTION}\n"
                            f"Question: {question.strip()}")
    kept: list[Passage] = []
    seen: set[tuple[str, str]] = set()
    for passage in passages:
        if len(kept) >= max_passages:
            break
        key = (passage.path, " ".join(passage.text.split()))
        if key in seen:  # the same text twice (a file indexed under two names): once is enough
            continue
        numbered = replace(passage, number=first_number + len(kept))
        cost = estimate_tokens(passage_block(numbered)) + 1
        if cost > room:
            continue
        room -= cost
        seen.add(key)
        kept.append(numbered)
    return kept


def cited_numbers(answer: str) -> list[int]:
    """Every passage number the answer cites, in the order first cited, each once."""
    found: dict[int, None] = {}
    for match in _CITATION.finditer(answer):
        for number in _numbers(match.group(1)):
            found.setdefault(number, None)
    return list(found)


def _numbers(group: str) -> list[int]:
    numbers: list[int] = []
    for match in _NUMBER_OR_RANGE.finditer(group):
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else start
        if end < start or end - start > _MAX_RANGE:
            numbers.append(start)
            continue
        numbers.extend(range(start, end + 1))
    return numbers


def cited(answer: str, passages: Sequence[Passage]) -> list[Passage]:
    """The passages the answer cites, in the order it first cites them; unknown numbers are ignored."""
    by_number = {p.number: p for p in passages}
    return [by_number[n] for n in cited_numbers(answer) if n in by_number]


def sources_lines(passages: Sequence[Passage]) -> list[str]:
    """"[1] report.pdf, page 3" per passage, under the number the answer used for it."""
    return [f"[{passage.number}] {passage.label}" for passage in passages]


def sources_block(answer: str, passages: Sequence[Passage]) -> str:
    """The "Sources:" block printed after an answer ("" when it cites none)."""
    lines = sources_lines(cited(answer, passages))
    return "Sources:\n" + "\n".join(lines) if lines else ""
