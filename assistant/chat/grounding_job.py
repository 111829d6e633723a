"""A question's attachments turned into grounding: recordings transcribed (long ones summarised), images
read (OCR text, and CLIP labels when a CLIP model is installed).

Shared by the window and `ask --audio/--image`, and like `ChatSession` it has no threads and no Qt: every
request it sends is bound to its own handler, which the client runs on the caller's thread (the GUI
thread through the bridge, or the CLI's main thread through an `Inbox`), and each change is reported to
`on_update`. The steps are written as one generator (`_run`) that yields the request it waits for and
receives that request's events, so the order of the work reads top to bottom even though it runs one
event at a time.

Transcription and image perception run in the engine process (each file is decoded there, so a
corrupt file can never hurt the window). A transcript longer than the context window is never cut: see
`audio_question`. The part summaries are chat requests outside the session, so these intermediate
answers are not saved. Images, recordings and the typed text can come together: the groundings keep
the order of the attachments, and the text read from images is sent whole, so recordings that do not
fit share what is left of the context.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from assistant.chat import sampling
from assistant.chat.document_grounding import DocumentSteps, DocumentsUnavailable
from assistant.chat.image_reply import ANSWERED_BY, cannot_see
from assistant.host.client import EngineClient, Handler, Ticket, is_terminal
from assistant.host.messages import (
    ChatRequest,
    Done,
    EngineConfig,
    Event,
    Failed,
    ImagePerceived,
    PerceiveRequest,
    Progress,
    Token,
    TranscribeRequest,
    Transcript,
    result_of,
)
from assistant.models.traits import model_traits
from assistant.prompt import audio_question
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import (
    GroundedQuestion,
    Grounding,
    default_question,
    grounded_question,
    prompt_start,
    render_block,
)
from assistant.protocols import ChatMessage, Segment, TranscriptionOptions
from assistant.settings import Settings
from assistant.voice.conversation_terms import conversation_terms

logger = logging.getLogger(__name__)

# Guards the reduce loop: each round shrinks the summaries; a run this deep means something is off.
MAX_REDUCE_ROUNDS = 4
EMPTY_PART = "(nothing relevant in this part)"

# The generator's type: yields the key of the request it waits for (see `_wait`), receives that
# request's events, returns the finished question.
Steps = Generator[int, Event, GroundedQuestion]


class GroundingError(Exception):
    """The attachments could not become grounding; str() is the user-facing message."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class EarlyPerception:
    """An image perceived before the question was sent (the window starts it when the image is attached).

    Finished: `found` (or `error`, the engine's message) and no `ticket`. In flight: `ticket`, and
    `follow`, which hands the request's remaining events to another handler: the job then waits for
    them instead of asking again (`found` is set once ImagePerceived came).
    """

    ticket: Ticket | None = None
    found: ImagePerceived | None = None
    error: str | None = None
    follow: Callable[[Handler], None] | None = field(default=None, compare=False)

    @property
    def pending(self) -> bool:
        return self.ticket is not None


@dataclass(frozen=True)
class JobUpdate:
    """Where the job is, for a status line; the last one has `finished` and one of result/error/cancelled."""

    message: str  # "Transcribing interview.mp3", "Summarising part 2/5 of interview.mp3", "Reading shot.png"
    done: int = 0
    total: int = 0  # 0: unknown (a busy indicator)
    attachment: int | None = None  # index of the attachment being worked on
    step: int = 0  # counts the engine requests started: a new step is a new line in a log
    finished: bool = False
    result: GroundedQuestion | None = None
    error: str | None = None
    exit_code: int = 0  # for the CLI: 1 failed, 2 settings leave no room, 130 cancelled
    cancelled: bool = False


def check_room(settings: Settings) -> None:
    """Refuse before any work when the context window leaves too little room for any grounding."""
    budget = audio_question.prompt_budget(
        settings.context_size, settings.max_answer_tokens, settings.system_prompt
    )
    if budget < 4 * audio_question.MIN_SUMMARY_TOKENS:
        raise GroundingError(
            f"The context window ({settings.context_size} tokens, {settings.max_answer_tokens} kept for "
            "the answer) leaves too little room for a transcript or an image's text. Raise the context "
            "size or lower the "
            "answer length in Settings.",
            exit_code=2,
        )


class GroundingJob:
    """One question's perception: start(); every later change goes to `on_update`, the last `finished`."""

    def __init__(
        self,
        client: EngineClient,
        settings: Settings,
        data_dir: Path,
        attachments: Sequence[Attachment],
        question: str,
        perceived: Mapping[int, EarlyPerception] | None = None,
        *,
        on_update: Callable[[JobUpdate], None] | None = None,
        on_event: Handler | None = None,
        use_documents: bool = False,
        prefill_for: Callable[[str], ChatRequest | None] | None = None,
    ) -> None:
        """`perceived`: attachment index -> an image already perceived, or being perceived, for it.
        `on_event` sees every event of the job's requests first (the window shows a model loading,
        and notes the images read for the image library). `use_documents`: the question is answered
        from the user's documents library too (searched in the engine process). `prefill_for(start)`:
        the prefill-only request for the question's prompt up to `start` (`ChatSession.prefill_request`);
        when the first attachment is an image the job reads, the engine evaluates it meanwhile."""
        if not attachments and not use_documents:
            raise ValueError("a grounding job needs an attachment or the documents")
        unsupported = [a.name for a in attachments if a.kind not in ("audio", "image", "document")]
        if unsupported:
            raise GroundingError(
                f"Only recordings, images and documents can be attached: {', '.join(unsupported)}.")
        self._client = client
        self._settings = settings
        self._data_dir = Path(data_dir)
        self._attachments = tuple(attachments)
        self._perceived = dict(perceived or {})
        self._question = question.strip() or default_question(self._attachments)
        self._budget = audio_question.prompt_budget(
            settings.context_size, settings.max_answer_tokens, settings.system_prompt
        )
        self._on_update = on_update or (lambda update: None)
        self._on_event = on_event
        self._use_documents = use_documents
        self._prefill_for = prefill_for
        self._documents = DocumentSteps(settings, self._data_dir, self._send, self._begin, self._status,
                                        self._end_of_step)
        self._steps: Steps | None = None
        self._keys = iter(range(1, 1 << 62))  # one per request the job waits for
        self._waiting: int | None = None  # the key the generator waits for now
        self._tickets: dict[int, Ticket] = {}  # key -> the request in flight (to cancel it)
        self._later: dict[int, list[Event]] = {}  # events of requests the job will wait for later
        self._early_keys: dict[int, int] = {}  # attachment index -> key of its early read in flight
        self._cancel_requested = False
        self._update = JobUpdate("Preparing")

    @property
    def question(self) -> str:
        return self._question

    @property
    def waiting(self) -> bool:
        """An engine request is in flight for the job (False before start and once finished)."""
        return self._waiting is not None

    @property
    def finished(self) -> bool:
        return self._update.finished

    @property
    def last_update(self) -> JobUpdate:
        return self._update

    def start(self) -> JobUpdate:
        """Check the settings and send the first request; the update may already be `finished` (then
        `on_update` is never called)."""
        try:
            check_room(self._settings)
            # Early reads still in flight are followed now, so none of their events is missed while an
            # earlier attachment is worked on; they are kept until the job gets to them.
            for index, early in self._perceived.items():
                if early.pending and early.follow is not None:
                    self._early_keys[index] = self._follow(early)
            self._steps = self._run()
            self._wait_for(next(self._steps))
        except StopIteration as stop:  # every image was read already: nothing to ask the engine
            return self._finish(result=stop.value)
        except Exception as error:
            return self._fail(error)
        return self._update

    def cancel(self) -> bool:
        """Ask the engine to stop the current step; a finished, cancelled update follows."""
        ticket = self._tickets.get(self._waiting) if self._waiting is not None else None
        if self.finished or ticket is None:
            return False
        self._cancel_requested = True
        ticket.cancel()
        return True

    # ---- events ------------------------------------------------------------------------------------

    def _send(self, request: ChatRequest | TranscribeRequest | PerceiveRequest) -> int:
        """Send a request bound to this job; returns the key the generator yields to wait for it."""
        key = next(self._keys)
        self._tickets[key] = self._client.send(request, partial(self._receive, key))
        return key

    def _follow(self, early: EarlyPerception) -> int:
        """Take over an early perception still in flight: its remaining events come here."""
        assert early.follow is not None and early.ticket is not None
        key = next(self._keys)
        self._tickets[key] = early.ticket
        early.follow(partial(self._receive, key))
        return key

    def _receive(self, key: int, event: Event) -> None:
        """A request's handler: feed the generator when it waits for this request, else keep the event
        for when it does (an early perception may end while an earlier step still runs)."""
        if self._on_event is not None:
            self._on_event(event)
        if self._steps is None or self.finished:
            return
        if key != self._waiting:
            self._later.setdefault(key, []).append(event)
            return
        self._step(event)

    def _step(self, event: Event) -> None:
        if is_terminal(event) and self._waiting is not None:
            self._tickets.pop(self._waiting)
        assert self._steps is not None
        try:
            self._wait_for(self._steps.send(event))
        except StopIteration as stop:
            self._on_update(self._finish(result=stop.value))
        except Exception as error:
            self._on_update(self._fail(error))
        else:
            self._on_update(self._update)

    def _wait_for(self, key: int) -> None:
        """The generator now waits for `key`: first replay what that request sent meanwhile. A step
        ends with its request's Done or Failed, so a request's kept events are all used before the
        generator moves on to the next one."""
        self._waiting = key
        while kept := self._later.pop(self._waiting, None):
            for event in kept:
                if is_terminal(event):
                    self._tickets.pop(self._waiting, None)
                assert self._steps is not None
                self._waiting = self._steps.send(event)

    # ---- the steps ---------------------------------------------------------------------------------

    def _run(self) -> Steps:
        images: dict[int, Grounding] = {}  # attachment index -> what was read in it
        recordings: dict[int, list[Segment]] = {}
        for index, attachment in enumerate(self._attachments):
            if attachment.kind == "image":
                images[index] = yield from self._perceive(index, attachment)
                continue
            if attachment.kind == "document":
                continue  # read below, once the room left by the other attachments is known
            segments = yield from self._transcribe(index, attachment)
            if not audio_question.has_speech(segments):
                raise GroundingError(f"No speech was recognised in {attachment.path}.")
            recordings[index] = segments
        transcripts = {
            index: Grounding("transcript", self._attachments[index].name, audio_question.format_transcript(s))
            for index, s in recordings.items()
        }
        reply = None if self._use_documents else cannot_see(
            self._attachments, list(images.values()), self._settings, self._data_dir)
        if reply is not None:  # nothing recognisable in the images: the app says so, no model guesses
            return GroundedQuestion(self._question, self._question, self._attachments,
                                    tuple(images.values()), reply=reply, answered_by=ANSWERED_BY)
        reserved = sum(audio_question.estimate_tokens(render_block(g)) for g in images.values())
        planned = yield from self._documents.passages(
            self._attachments, self._question, self._budget, reserved_tokens=reserved,
            recordings=bool(recordings), search=self._use_documents,
            other_material=bool(images or recordings))
        if planned.reply is not None:  # nothing relevant in the documents: no model is asked
            return GroundedQuestion(self._question, self._question, self._attachments, planned.groundings,
                                    reply=planned.reply)
        passages = list(planned.groundings)
        prompt = grounded_question(self._in_order(images, transcripts) + passages, self._question)
        if audio_question.fits(prompt, self._budget):
            return self._result(prompt, self._in_order(images, transcripts) + passages)
        if not recordings:
            names = ", ".join(a.name for a in self._attachments)
            raise GroundingError(
                f"The text read from {names} is too long for this context window. Raise the context size "
                "in Settings, or crop the images to the part you are asking about."
            )

        # Too long together. The images' text is sent whole; each recording gets an equal share of what
        # is left, and one longer than its share is summarised in parts (for a single recording and no
        # image this is exactly `ask --audio`'s plan).
        image_tokens = sum(audio_question.estimate_tokens(render_block(g)) for g in images.values())
        image_tokens += audio_question.estimate_tokens(grounded_question(passages, ""))
        share = (self._budget - image_tokens) // len(recordings)
        if share < 4 * audio_question.MIN_SUMMARY_TOKENS:
            raise GroundingError(
                "The text read from the images leaves too little room for the recordings in this context "
                "window. Ask about them separately, or raise the context size in Settings."
            )
        groundings: dict[int, list[Grounding]] = {}
        for index, segments in recordings.items():
            attachment, transcript = self._attachments[index], transcripts[index]
            plan = audio_question.plan_parts(
                segments,
                attachment.name,
                self._question,
                budget_tokens=share,
                max_answer_tokens=self._settings.max_answer_tokens,
            )
            if plan.direct is not None:
                groundings[index] = [transcript]
                continue
            summaries = yield from self._summarise(index, attachment, plan, share)
            joined = audio_question.join_summaries(summaries)
            groundings[index] = [
                dataclasses.replace(transcript, sent=False),
                Grounding("summary", attachment.name, joined, parts=len(summaries)),
            ]
        ordered = self._in_order(images, groundings) + passages
        prompt = grounded_question(ordered, self._question)
        if not audio_question.fits(prompt, self._budget):
            names = ", ".join(a.name for a in self._attachments)
            raise GroundingError(
                f"The attachments ({names}) are too long to use together with this context window."
            )
        return self._result(prompt, ordered)

    def _in_order(
        self, images: dict[int, Grounding], recordings: dict[int, Grounding] | dict[int, list[Grounding]]
    ) -> list[Grounding]:
        """Every grounding in the order the files were attached (a recording may have two)."""
        ordered: list[Grounding] = []
        for index in range(len(self._attachments)):
            if index in images:
                ordered.append(images[index])
            found = recordings.get(index)
            if isinstance(found, Grounding):
                ordered.append(found)
            elif found:
                ordered.extend(found)
        return ordered

    def _result(self, prompt: str, groundings: Sequence[Grounding]) -> GroundedQuestion:
        return GroundedQuestion(self._question, prompt, self._attachments, tuple(groundings))

    def _transcribe(self, index: int, attachment: Attachment) -> Generator[int, Event, list[Segment]]:
        settings = self._settings
        options = TranscriptionOptions(
            language=settings.speech_language or None,
            task="translate" if settings.translate_to_english else "transcribe",
            context=conversation_terms([self._question]),  # names the question uses, heard as written
        )
        label = f"Transcribing {attachment.name}"
        self._begin(label, attachment=index)
        key = self._send(TranscribeRequest(
            settings.speech_model, str(self._data_dir), audio_path=attachment.path, options=options,
            threads=settings.threads,
        ))
        segments: list[Segment] = []
        while True:
            event = yield key
            if isinstance(event, Transcript):
                segments.append(event.segment)
            elif isinstance(event, Progress):
                # 'transcribe' counts seconds of audio; 'assemble'/'load' prepare the speech model first.
                message = label if event.stage == "transcribe" else event.message or "Loading speech model"
                self._status(message, event.done, event.total, index)
            elif isinstance(event, (Done, Failed)):
                self._end_of_step(event)
                logger.info("Transcribed %s: %d segments", attachment.path, len(segments))
                return segments

    def _perceive(self, index: int, attachment: Attachment) -> Generator[int, Event, Grounding]:
        """Read the image in the engine process: its text in reading order, and labels with CLIP."""
        label = f"Reading {attachment.name}"
        self._begin(label, attachment=index)
        early = self._perceived.pop(index, None)
        found: ImagePerceived | None = early.found if early is not None else None
        if early is not None and early.error is not None:
            raise GroundingError(early.error)
        if early is not None and not early.pending and found is not None:
            logger.info("Read %s before the question was sent", attachment.path)
            return _image_grounding(attachment, found)
        if early is not None and index in self._early_keys:
            key = self._early_keys.pop(index)  # in flight since the image was attached: wait for it
        else:
            key = self._send(PerceiveRequest(attachment.path, str(self._data_dir), self._settings.threads,
                                             prefill=self._prompt_start_request(index)))
        while True:
            event = yield key
            found = result_of(event, ImagePerceived) or found
            if isinstance(event, Progress):
                # A few uneven steps (OCR is most of the time): a busy indicator, not a percentage.
                self._status(event.message or label, attachment=index)
            elif isinstance(event, (Done, Failed)):
                self._end_of_step(event)
                break
        if found is None:  # a Done without a result: only a broken engine does that
            raise GroundingError(f"The engine did not say what it found in {attachment.path}.")
        logger.info("Read %s: %d lines, %d labels", attachment.path, len(found.lines), len(found.labels))
        return _image_grounding(attachment, found)

    def _prompt_start_request(self, index: int) -> ChatRequest | None:
        """For the first attachment, an image: the prompt up to its text, to evaluate while it is read."""
        start = prompt_start(self._attachments) if index == 0 and self._prefill_for is not None else None
        return self._prefill_for(start) if self._prefill_for is not None and start is not None else None

    def _summarise(
        self, index: int, attachment: Attachment, plan: audio_question.AudioQuestionPlan, share: int
    ) -> Generator[int, Event, list[str]]:
        """Map the parts to summaries, reducing in rounds until they fit `share` together."""
        prompts = list(plan.parts)
        for round_number in range(MAX_REDUCE_ROUNDS):
            what = "Summarising part" if round_number == 0 else "Combining summaries"
            summaries: list[str] = []
            for number, prompt in enumerate(prompts, start=1):
                step = f"{what} {number}/{len(prompts)} of {attachment.name}"
                self._begin(step, number - 1, len(prompts), index)
                text = yield from self._chat(prompt, plan.summary_tokens)
                summaries.append(text.strip() or EMPTY_PART)
            final = audio_question.build_final_question(summaries, attachment.name, plan.question)
            if audio_question.fits(final, share):
                return summaries
            prompts = audio_question.reduce_prompts(summaries, attachment.name, plan.question, share)
            logger.info("Part summaries too long together; reducing %d summaries", len(summaries))
        raise GroundingError(
            f"The recording {attachment.path} is too long to summarise with this context window."
        )

    def _chat(self, prompt: str, max_tokens: int) -> Generator[int, Event, str]:
        settings = self._settings
        messages = [ChatMessage("system", settings.system_prompt)] if settings.system_prompt.strip() else []
        messages.append(ChatMessage("user", prompt))
        config = EngineConfig.from_settings(settings, self._data_dir)
        # A part summary is open-ended writing: the model-size rule, the model file and the user decide.
        chosen = sampling.choose(model_traits(config.model, self._data_dir), "open", settings)
        options = chosen.options(max_tokens)
        key = self._send(ChatRequest(config, tuple(messages), options))
        text = ""
        while True:
            event = yield key
            if isinstance(event, Token):
                text += event.text
            elif isinstance(event, (Done, Failed)):
                self._end_of_step(event)
                return text

    def _end_of_step(self, event: Done | Failed) -> None:
        """A request ended: go on only when it completed and the user has not pressed Cancel since."""
        if isinstance(event, Failed):
            raise GroundingError(event.message)
        if event.status != "complete" or self._cancel_requested:
            raise _Cancelled()

    # ---- updates -----------------------------------------------------------------------------------

    def _begin(self, message: str, done: int = 0, total: int = 0, attachment: int | None = None) -> None:
        self._update = JobUpdate(message, done, total, attachment, step=self._update.step + 1)

    def _status(self, message: str, done: int = 0, total: int = 0, attachment: int | None = None) -> None:
        self._update = JobUpdate(message, done, total, attachment, step=self._update.step)

    def _finish(self, **outcome: object) -> JobUpdate:
        self._waiting = None
        self._steps = None
        self._later.clear()
        for key in self._early_keys.values():  # images still being read that the job never reached
            self._tickets[key].cancel()
        self._early_keys.clear()
        self._update = dataclasses.replace(self._update, finished=True, **outcome)  # type: ignore[arg-type]
        return self._update

    def _fail(self, error: Exception) -> JobUpdate:
        if isinstance(error, _Cancelled):
            return self._finish(cancelled=True, exit_code=130)
        if isinstance(error, GroundingError):
            return self._finish(error=str(error), exit_code=error.exit_code)
        if isinstance(error, DocumentsUnavailable):
            return self._finish(error=str(error), exit_code=1)
        logger.exception("Preparing the attachments failed")
        return self._finish(error=f"The attachments could not be used: {error}", exit_code=1)


def _image_grounding(attachment: Attachment, found: ImagePerceived) -> Grounding:
    return Grounding("image", attachment.name, found.text, labels=found.labels, guesses=found.guesses,
                     confidence=found.ocr_confidence, image=found.sha256)
