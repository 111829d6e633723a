"""The documents part of a question's grounding: attached documents read, the library searched.

`GroundingJob` runs these steps (generators that yield the request they wait for, like its own) when a
PDF, DOCX or other document is attached to the question, and when the question should use the user's
documents ("Use my documents", `ask --docs`). Both requests run in the engine process: an attached file
is parsed there (`ReadDocumentRequest`: whole when it fits the room given, else its passages most
relevant to the question), and the library is searched there (`SearchDocumentsRequest`: BM25 and
vectors, fused). The plan of what the model gets is pure (`plan`): the attached documents' passages
first, in document order, then the library's relevant passages best first, numbered together so the
answer can cite them, within the share of the context left for passages.

When the library was searched, nothing in it was relevant and nothing else was attached, there is
nothing to ground an answer in: the plan carries `documents.NOT_COVERED` as the reply, and no model is
asked to invent one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.documents import library
from assistant.documents.errors import DocumentsError
from assistant.documents.types import Passage as FoundPassage
from assistant.host.messages import (
    DocumentRead,
    DocumentsFound,
    Done,
    Event,
    Failed,
    Progress,
    ReadDocumentRequest,
    Request,
    SearchDocumentsRequest,
    result_of,
)
from assistant.prompt import audio_question, documents
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding
from assistant.settings import Settings

logger = logging.getLogger(__name__)

# Passages asked of the library: more than are shown, so that one too long for the room can be
# replaced by the next, and the irrelevant ones can be told from the relevant.
SEARCH_K = 10
# The rendered label, markers and blank lines around each passage, in characters, on top of its text.
PASSAGE_OVERHEAD_CHARS = 48
# How much of an attached document's room its text may fill (the rest covers passage labels).
TEXT_SHARE = 0.85
SEARCH_SOURCE = "your documents"


class DocumentsUnavailable(Exception):
    """An attached document could not be read, or the search failed; str() is the user's message."""


def to_prompt_passage(found: FoundPassage) -> documents.Passage:
    """The engine's passage as the prompt code sees it, its locator written as the library writes it."""
    where = found.locator
    return documents.Passage(
        found.name, found.path, found.text, page=where.page or 0, heading=where.heading,
        first_line=where.first_line or 0, last_line=where.last_line or 0, relevant=found.relevant,
        place=where.label(),
    )


def room_tokens(budget: int, question: str, reserved_tokens: int) -> int:
    """Tokens every passage of the message may take together (what `documents.fit_passages` allows)."""
    wrapper = audio_question.estimate_tokens(documents.build_question([], question))
    return int(budget * documents.PASSAGE_SHARE) - reserved_tokens - wrapper


def max_chars_each(room: int, attached: int, search: bool) -> int:
    """The characters each attached document may send: the room shared with the others (and with the
    library's passages, which get an equal share)."""
    shares = attached + (1 if search else 0)
    return max(0, int(room * audio_question.SAFE_CHARS_PER_TOKEN * TEXT_SHARE) // max(1, shares))


@dataclass(frozen=True)
class DocumentsPlan:
    """The passages the model gets (as groundings, numbered), and the reply when no model is needed."""

    groundings: tuple[Grounding, ...]
    reply: str | None = None
    notes: tuple[str, ...] = field(default=())  # for the log: documents cut to fit, search notes


def plan(
    read: Sequence[tuple[Attachment, DocumentRead]],
    found: DocumentsFound | None,
    question: str,
    budget: int,
    *,
    reserved_tokens: int = 0,
    other_material: bool = False,
    library_empty: bool = False,
) -> DocumentsPlan:
    """Number the attached documents' passages, then add the library's relevant ones that still fit.

    `reserved_tokens` is what the message's other material takes (the text read in images,
    transcripts); `other_material` says there is some, so an empty search still leaves a question.
    `library_empty`: the documents were to be searched but none were added yet (nothing was searched).
    """
    kept: list[documents.Passage] = []
    notes: list[str] = []
    for attachment, document in read:
        own = [to_prompt_passage(p) for p in _attached_order(document)]
        numbered = documents.fit_passages(own, question, budget, first_number=len(kept) + 1,
                                          max_passages=len(own),
                                          reserved_tokens=reserved_tokens + _tokens(kept))
        if len(numbered) < len(own):
            left_out = len(own) - len(numbered)
            notes.append(f"{attachment.name}: {left_out} of {len(own)} passages left out to fit")
        kept.extend(numbered)
        if document.note:
            notes.append(f"{attachment.name}: {document.note}")
    searched: list[Grounding] = []
    reply = None
    if found is not None:
        relevant = documents.relevant(to_prompt_passage(p) for p in found.passages)
        chosen = documents.fit_passages(relevant, question, budget, first_number=len(kept) + 1,
                                        reserved_tokens=reserved_tokens + _tokens(kept))
        if found.note:
            notes.append(found.note)
        if not chosen:
            searched.append(Grounding("search", SEARCH_SOURCE, search_summary(found), sent=False))
            if not kept and not other_material:
                reply = documents.NOT_COVERED
        kept.extend(chosen)
    if library_empty:  # "Use my documents" with none added: say how to add some, no model guesses
        searched.append(Grounding("search", SEARCH_SOURCE, documents.NO_DOCUMENTS, sent=False))
        if not kept and not other_material:
            reply = documents.NO_DOCUMENTS
    groundings = tuple(Grounding.from_passage(p) for p in kept) + tuple(searched)
    return DocumentsPlan(groundings, reply, tuple(notes))


def _attached_order(document: DocumentRead) -> list[FoundPassage]:
    """A whole document in its own order; one retrieved from, its relevant passages best first.

    A small model reads "[1]" as the answer's place: measured on a 40-page PDF whose answer is on page
    31, the 0.5B said the document does not cover it when page 31 came fourth after three pages of
    boilerplate the search had kept to fill the room, and answered when it came first alone.
    """
    chosen = list(document.passages)
    if document.whole:
        return chosen
    chosen = [p for p in chosen if p.relevant] or chosen
    if all(p.similarity is not None for p in chosen):
        chosen.sort(key=lambda p: -(p.similarity or 0.0))
    return chosen


def _tokens(passages: Sequence[documents.Passage]) -> int:
    return sum(audio_question.estimate_tokens(documents.passage_block(p)) + 1 for p in passages)


def search_summary(found: DocumentsFound) -> str:
    """What "What the model was told" shows when the search found nothing to tell the model."""
    if not found.passages:
        return f"Searched your documents for “{found.query}”: nothing in them matches."
    closest = ", ".join(p.citation() for p in found.passages[:3])
    return (f"Searched your documents for “{found.query}”: no passage was close enough to the question "
            f"to answer from, so none was sent. Closest: {closest}.")


class DocumentSteps:
    """The engine requests of the documents part, for `GroundingJob`'s generator.

    `send` sends a request bound to the job and returns the key to yield; `begin` starts a new step line
    and `status` updates it; `end_of_step` raises when a request failed or was cancelled.
    """

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        send: Callable[[Request], int],
        begin: Callable[..., None],
        status: Callable[..., None],
        end_of_step: Callable[[Done | Failed], None],
    ) -> None:
        self._settings = settings
        self._data_dir = str(data_dir)
        self._send = send
        self._begin = begin
        self._status = status
        self._end_of_step = end_of_step

    def passages(
        self, attachments: Sequence[Attachment], question: str, budget: int, *, reserved_tokens: int,
        recordings: bool, search: bool, other_material: bool,
    ) -> Generator[int, Event, DocumentsPlan]:
        """Read the attached documents, search the library when asked: the numbered passages.

        `reserved_tokens` is what the images' text takes; with `recordings` the documents leave half
        their room to the transcripts (which are summarised when that is not enough).
        """
        attached = [(i, a) for i, a in enumerate(attachments) if a.kind == "document"]
        if not attached and not search:
            return DocumentsPlan(())
        room = room_tokens(budget, question, reserved_tokens)
        if recordings:
            room //= 2
        library_empty = search and not self._has_sources()
        search = search and not library_empty
        each = max_chars_each(room, len(attached), search)
        read = []
        for index, attachment in attached:
            document = yield from self.read(index, attachment, question, each)
            read.append((attachment, document))
        found = (yield from self.search(question)) if search else None
        planned = plan(read, found, question, budget, reserved_tokens=reserved_tokens,
                       other_material=other_material, library_empty=library_empty)
        for note in planned.notes:
            logger.info("Documents: %s", note)
        return planned

    def _has_sources(self) -> bool:
        """Whether any file or folder was added (the library's SQLite file only: milliseconds)."""
        try:
            return bool(library.list_sources(Path(self._data_dir)))
        except DocumentsError as error:  # the engine's search will say what is wrong
            logger.warning("Could not list the documents: %s", error)
            return True

    def read(self, index: int, attachment: Attachment, question: str,
             max_chars: int) -> Generator[int, Event, DocumentRead]:
        """Parse an attached document in the engine process: whole, or its passages for the question."""
        label = f"Reading {attachment.name}"
        self._begin(label, attachment=index)
        key = self._send(ReadDocumentRequest(attachment.path, self._data_dir, query=question,
                                             max_chars=max_chars, threads=self._settings.threads))
        result: DocumentRead | None = None
        while True:
            event = yield key
            result = result_of(event, DocumentRead) or result
            if isinstance(event, Progress):
                self._status(event.message or label, event.done, event.total, index)
            elif isinstance(event, (Done, Failed)):
                self._end_of_step(event)
                break
        if result is None:
            raise DocumentsUnavailable(f"The engine did not say what it read in {attachment.path}.")
        if not result.passages:
            raise DocumentsUnavailable(f"No text was found in {attachment.path}.")
        logger.info("Read %s: %d of %d passages (%s)", attachment.path, len(result.passages),
                    result.total_passages, "whole" if result.whole else "the relevant ones")
        return result

    def search(self, question: str) -> Generator[int, Event, DocumentsFound]:
        """Search the library for the question's passages, in the engine process."""
        self._begin("Searching your documents")
        key = self._send(SearchDocumentsRequest(self._data_dir, question, k=SEARCH_K,
                                                threads=self._settings.threads))
        result: DocumentsFound | None = None
        while True:
            event = yield key
            result = result_of(event, DocumentsFound) or result
            if isinstance(event, Progress):
                self._status(event.message or "Searching your documents", event.done, event.total)
            elif isinstance(event, (Done, Failed)):
                self._end_of_step(event)
                break
        if result is None:
            raise DocumentsUnavailable("The engine did not answer the search of your documents.")
        logger.info("Searched the documents (%s): %d passages, %d relevant", result.mode,
                    len(result.passages), sum(p.relevant for p in result.passages))
        return result
