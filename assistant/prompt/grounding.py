"""What the model was told about a question's attachments, and the one user message built from it.

A `Grounding` is what perception produced for one attachment: a recording's transcript with timestamps
(or part summaries of a long one), or the text read in an image with its zero-shot labels. It is stored
with the question, shown to the user under "What the model was told", and rendered here into the text
the chat model receives. The rendering is a pure function so the window and `ask` send byte-identical
prompts.

`sent=False` marks a grounding the user may read but the model did not get as is: a transcript too long
for the context window, which reached the model as part summaries (a second grounding) instead.

A question answered from documents has one "passage" grounding per numbered source the model got (its
number, file, locator and path, so the answer's [n] can be mapped back and opened), and a "search"
grounding (`sent=False`) when the search found nothing relevant and no model was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.prompt import audio_question, documents, image_question
from assistant.prompt.attachments import Attachment


@dataclass(frozen=True)
class Grounding:
    kind: str  # "transcript", "summary", "image", "passage" or "search"
    source: str  # the attachment's name, as the user and the model see it
    text: str  # "image": the OCR text in reading order ("" when none was found)
    sent: bool = True  # False: shown to the user, but the model got a summary of it instead
    parts: int = 0  # "summary": how many parts the recording was summarised in
    # "image": (label, probability) pairs, best first, when a CLIP model was installed
    labels: tuple[tuple[str, float], ...] = ()
    # "image": the ImageNet classifier's guesses, (label, probability) pairs, best first
    guesses: tuple[tuple[str, float], ...] = ()
    confidence: float | None = None  # "image": the OCR read's confidence (None: no text, or not recorded)
    image: str = ""  # "image": sha256 of the file, the name of its kept copy (`images.kept`)
    seen: bool = False  # "image": the image itself went to a model that can see, besides this text
    # "passage": its citation number, where in the file ("page 3", "section Budget", "lines 4-9"), the
    # file on disk (to open it there; never exported) and its page (0: the format has none)
    number: int = 0
    locator: str = ""
    path: str = ""
    page: int = 0

    def heading(self) -> str:
        """A line that says what this is, for the panel and for exports."""
        if self.kind == "transcript":
            if self.sent:
                return f"Transcript of {self.source}"
            return f"Transcript of {self.source} (too long to send whole: the model got the summaries)"
        if self.kind == "summary":
            return f"Summaries of {self.source} ({self.parts} parts), as the model got them"
        if self.kind == "passage":
            return f"[{self.number}] {documents.source_label(self.source, self.locator)}"
        if self.kind == "search":
            return "Searched your documents"
        if self.kind == "image":
            if self.seen:
                return f"Text read from the image {self.source} (the image itself was sent to the model too)"
            return f"Text read from the image {self.source}"
        return f"{self.kind.capitalize()} of {self.source}"

    def shown_text(self) -> str:
        """What the panel and exports show: the text, and for an image its labels too."""
        if self.kind == "image":
            return image_question.shown_text(self.text, self.labels, self.guesses, self.confidence)
        return self.text

    @classmethod
    def from_passage(cls, passage: documents.Passage) -> Grounding:
        return cls("passage", passage.name, passage.text, number=passage.number, locator=passage.locator,
                   path=passage.path, page=passage.page)

    def passage(self) -> documents.Passage:
        """A "passage" grounding as the citation helpers take it (its locator kept as stored)."""
        return documents.Passage(self.source, self.path, self.text, page=self.page, number=self.number,
                                 place=self.locator)


def passages(groundings: Sequence[Grounding]) -> list[documents.Passage]:
    """The numbered passages a question was answered from (for its answer's sources)."""
    return [g.passage() for g in groundings if g.kind == "passage"]


@dataclass(frozen=True)
class GroundedQuestion:
    """A question ready to send: the user's words, the message the model gets, and where it came from."""

    question: str  # what the user typed, or the default question when they typed nothing
    prompt: str  # the user message the model receives (groundings, then the question)
    attachments: tuple[Attachment, ...]
    groundings: tuple[Grounding, ...]
    # Set when no model needs asking: the documents were searched and nothing relevant was found, or
    # nothing could be recognised in the images, so this is the answer (stored and shown like a
    # model's, without inventing one); `answered_by` says which.
    reply: str | None = None
    answered_by: str = "documents search"


# How each kind of grounding is put in front of the model, and what the model is asked to do with it.
_BLOCKS: dict[str, Callable[[Grounding], str]] = {
    "transcript": lambda g: audio_question.transcript_block(g.text, g.source),
    "summary": lambda g: audio_question.summaries_block(g.text, g.source, g.parts),
    "image": lambda g: image_question.image_block(g.text, g.labels, g.guesses, confidence=g.confidence),
}
_INSTRUCTIONS = {
    "transcript": audio_question.TRANSCRIPT_INSTRUCTION,
    "summary": audio_question.SUMMARIES_INSTRUCTION,
    "image": image_question.IMAGE_INSTRUCTION,
}
MIXED_INSTRUCTION = "Answer using the material above."
_DEFAULT_QUESTIONS = {"audio": audio_question.DEFAULT_QUESTION, "image": image_question.DEFAULT_QUESTION,
                      "document": documents.DEFAULT_QUESTION}
_PLURAL_DEFAULT_QUESTIONS = {"audio": "Summarise these recordings.", "image": "Describe these images.",
                             "document": "Summarise these documents."}
MIXED_DEFAULT_QUESTION = "Summarise these attachments."


def render_block(grounding: Grounding) -> str:
    render = _BLOCKS.get(grounding.kind)
    if render is None:  # a kind this version does not know (a newer file): still clearly delimited
        return f"{grounding.heading()}:\n<<<\n{grounding.text.strip()}\n>>>"
    return render(grounding)


def default_question(attachments: Sequence[Attachment]) -> str:
    """What is asked when the user attached something and typed nothing."""
    kinds = {attachment.kind for attachment in attachments}
    if len(kinds) != 1:
        return MIXED_DEFAULT_QUESTION
    kind = kinds.pop()
    question = _DEFAULT_QUESTIONS.get(kind, MIXED_DEFAULT_QUESTION)
    if len(attachments) > 1:
        return _PLURAL_DEFAULT_QUESTIONS.get(kind, MIXED_DEFAULT_QUESTION)
    return question


def grounded_question(groundings: Sequence[Grounding], question: str) -> str:
    """The user message: every grounding the model gets, between markers, then the question.

    With one transcript (or one set of summaries) this is exactly what `audio_question.build_question`
    (or `build_final_question`) makes, and with passages alone what `documents.build_question` makes, so
    the CLI and the window ask the same way. Passages go together in one numbered block after the other
    material, with the instruction to cite them.
    """
    sent = [g for g in groundings if g.sent]
    if not sent:
        return question
    others = [g for g in sent if g.kind != "passage"]
    found = passages(sent)
    blocks = _numbered_images(others)
    if found:  # the sources, then the question, then the citation rules (see prompt/documents.py)
        blocks.append(documents.passages_block(found))
        instruction = documents.MIXED_INSTRUCTION if others else documents.DOCUMENTS_INSTRUCTION
        return documents.ask("\n\n".join(blocks), question.strip() or audio_question.DEFAULT_QUESTION,
                             instruction)
    elif len(others) == 1:
        instruction = _INSTRUCTIONS.get(others[0].kind, MIXED_INSTRUCTION)
    else:
        instruction = MIXED_INSTRUCTION
    question = question.strip() or audio_question.DEFAULT_QUESTION
    return "\n\n".join(blocks) + f"\n\n{instruction}\nQuestion: {question}"


def prompt_start(attachments: Sequence[Attachment]) -> str | None:
    """How the question's message begins whatever perception finds: the first image's block up to its
    text, or None when the first attachment is not an image (a transcript's block starts with what was
    heard). `GroundingJob` has the engine evaluate the prompt up to here while it reads that image."""
    if not attachments or attachments[0].kind != "image":
        return None
    several = sum(a.kind == "image" for a in attachments) > 1
    return image_question.block_start("image 1" if several else "the image")


def _numbered_images(groundings: Sequence[Grounding]) -> list[str]:
    """Each grounding's block; several images are "image 1", "image 2"... in the order attached (never
    their file names, which a model reads meaning into)."""
    several = sum(g.kind == "image" for g in groundings) > 1
    blocks, number = [], 0
    for g in groundings:
        if g.kind == "image" and several:
            number += 1
            blocks.append(image_question.image_block(g.text, g.labels, g.guesses, f"image {number}",
                                                     g.confidence))
        else:
            blocks.append(render_block(g))
    return blocks


def image_hashes(attachments: Sequence[Attachment], groundings: Sequence[Grounding]) -> list[str]:
    """The kept copy's hash for each attachment that is an image ("" for the others, or when unknown).

    Image groundings are made and stored in the order of the images, so the n-th image grounding
    belongs to the n-th image attachment.
    """
    hashes = iter([g.image for g in groundings if g.kind == "image"])
    return [next(hashes, "") if a.kind == "image" else "" for a in attachments]
