"""Questions answered from the user's documents: numbered passages, citation rules, and citations back.

Pure functions (no model, no Qt, no index). The engine process finds the passages (`documents/`); this
module decides how the model sees them and what the user sees afterwards:

- each passage is a numbered source with its locator (`[2] report.pdf, page 3`) and its text; the
  question follows the sources, and the instruction comes last, where a small model heeds it most;
- the instruction asks for a full sentence, then the source's number in square brackets, and for
  "The documents do not cover this." when the sources do not hold the answer: a small model invents
  less when told what to say instead. The wording was chosen by measuring the bundled 0.5B on facts
  of their own (README, Design: documents, the use side), not the tests' facts: with an example
  sentence ("The bridge opened in 1932 [2].") it answered with a bare "[1]" or copied the example,
  and with the instruction before the sources it refused questions it could answer;
- `fit_passages` keeps the best-ranked passages that fit the share of the context left for them, and
  numbers them in that order;
- after the answer, `cited` maps the model's [n] back to the passages it really used (in the order it
  first cited them; "[1][2]", "[1, 2]" and "[1-3]" are read too, numbers that name no passage are
  ignored), for the "Sources:" block and the window's clickable sources. A model too small to cite
  (the 0.5B often answers right without any [n]) still gets its sources: the passages that hold the
  answer's own facts (its numbers and rare words that the question did not bring) are named instead,
  and never a passage the answer has nothing from; citations none of whose passages holds any of
  those facts, while another passage does, are wrong numbers and give way to that passage.

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
    "Answer the question in a full sentence using only the sources above. After the sentence, write the "
    "number of the source you used in square brackets, such as [1]. If the sources do not contain the "
    'answer, say "The documents do not cover this."'
)
# With other material in the same message (an image's text, a transcript).
MIXED_INSTRUCTION = (
    "Answer the question in full sentences using the material above. After a sentence that uses a "
    "numbered source, write its number in square brackets, such as [1]. If the material does not "
    "contain the answer, say so plainly."
)
SOURCES_HEADING = "Sources:"
# Said when retrieval found nothing close enough to the question: no model is asked.
NOT_COVERED = "Your documents do not cover this: no passage in them matches the question closely enough."
NO_DOCUMENTS = ("You have no documents yet: add files or folders in View ▸ Documents… (or with "
                "`assistant docs add PATH`), then ask again.")
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
# A fact's words for attribution: "4.2", "2,417", "ZK-47Q" and "Brandtner" each stay one token.
_TOKEN = re.compile(r"[^\W_]+(?:[.,'’-][^\W_]+)*")
_COMMON_TEXT = (
    "about above after again also been before being between both could does doing down during each from "
    "further have having here into just more most much only other over same should some such than that "
    "their them then there these they this those through under until very were what when where which "
    "while will with would your yours answer question source sources document documents passage passages"
)
_COMMON = frozenset(_COMMON_TEXT.split())
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NO_ANSWER = ("do not cover", "does not cover", "don't cover", "not mentioned", "do not contain",
              "does not contain", "do not say", "does not say")


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
    """One numbered source: its number and label on the first line, then its text."""
    return f"[{passage.number}] {passage.label}\n{passage.text.strip()}"


def passages_block(passages: Sequence[Passage]) -> str:
    body = "\n\n".join(passage_block(p) for p in passages)
    return f"{SOURCES_HEADING}\n\n{body}"


def ask(blocks: str, question: str, instruction: str) -> str:
    """The material, then the question, then what to do with it."""
    return f"{blocks}\n\nQuestion: {question.strip()}\n\n{instruction}"


def build_question(passages: Sequence[Passage], question: str) -> str:
    """The user message for a question answered from `passages` alone."""
    return ask(passages_block(passages), question, DOCUMENTS_INSTRUCTION)


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
    room -= estimate_tokens(build_question([], question))
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


def _facts(text: str) -> set[str]:
    """The words that can carry a fact: numbers, codes and words of four letters or more."""
    words = (w.lower() for w in _TOKEN.findall(text))
    return {w for w in words if any(c.isdigit() for c in w) or (len(w) >= 4 and w not in _COMMON)}


def _own_facts(answer: str, question: str) -> set[str]:
    """The answer's facts that the question did not bring, outside any "not covered" sentence."""
    kept = [s for s in _SENTENCE_END.split(answer) if not any(m in s.lower() for m in _NO_ANSWER)]
    return _facts(" ".join(kept)) - _facts(question)


def supporting(answer: str, question: str, passages: Sequence[Passage]) -> list[Passage]:
    """For an answer that cites nothing: the passages that hold its facts, best first.

    Only the answer's own facts count (words the question already brought are left out: every
    relevant passage has those), and only the passages sharing the most of them. A sentence saying
    that the documents do not cover the question is left out (a small model often adds one after a
    right answer), so an answer that only says so, or has nothing from any passage, has no sources.
    """
    own = _own_facts(answer, question)
    if not own:
        return []
    shared = [(len(own & _facts(p.text)), p) for p in passages]
    best = max((count for count, _ in shared), default=0)
    return [p for count, p in shared if count == best] if best else []


def sources(answer: str, question: str, passages: Sequence[Passage]) -> list[Passage]:
    """What the answer's sources are: the passages it cites, else those that hold its facts.

    When none of the cited passages shares any of the answer's own facts while another passage holds
    them, the numbers are wrong (the 0.5B cites [1] out of habit): the passages holding the facts are
    named instead. An answer whose facts are in no passage keeps the citations it wrote.
    """
    given = cited(answer, passages)
    own = _own_facts(answer, question)
    if not given or not own or any(own & _facts(p.text) for p in given):
        return given or supporting(answer, question, passages)
    return supporting(answer, question, passages) or given


def sources_lines(passages: Sequence[Passage]) -> list[str]:
    """"[1] report.pdf, page 3" per passage, under the number the answer used for it."""
    return [f"[{passage.number}] {passage.label}" for passage in passages]


def sources_block(answer: str, passages: Sequence[Passage], question: str = "") -> str:
    """The "Sources:" block printed after an answer ("" when it has none)."""
    lines = sources_lines(sources(answer, question, passages))
    return f"{SOURCES_HEADING}\n" + "\n".join(lines) if lines else ""
