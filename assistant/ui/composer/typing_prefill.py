"""While the user types about perceived images, the engine evaluates the question's prompt already.

An image is read as soon as it is attached (`attachment_questions`), so at Send only the prompt is
left: the grounded user message (the text read from the images, then the question), which for a
screenshot is a few hundred tokens, seconds on a small CPU. This module has the engine evaluate that
prompt into the KV cache while the user is still typing: a prefill-only chat request
(`ChatSession.prefill`) with exactly the messages `send()` will build, rendered by the same
`GroundingJob` from the same early results. llama.cpp keeps the longest common prefix, and the typed
question comes last in the prompt, so even a prefill of a half-typed question leaves Send only the
tail to evaluate.

When: 500 ms after the last keystroke (or attachment change), and at once when the last image has
been read while text is typed. Only while every attachment is an image read without error, no answer
is streaming, nothing is being sent and push-to-talk is not writing the draft. One prefill at a
time: a newer question waits for the one in flight (the serial engine would queue it anyway) and is
sent when it ends, if it still differs.

At Send the prefill in flight is dropped (`Ticket.drop`, no kill deadline). A queued one is
answered at once; one the engine is already evaluating cannot be interrupted (`llm.eval` runs the
prompt in one call), so the question waits for it, but that evaluation is the prompt's shared prefix:
work Send would do anyway (`assistant bench vision --parts drop --after S` measures it).

Everything here runs on the GUI thread; a prefill's events come to its own handler through the bridge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from assistant.chat.grounding_job import EarlyPerception, GroundingError, GroundingJob
from assistant.chat.session import ChatSession
from assistant.host.client import EngineClient, Ticket
from assistant.host.messages import Done, Event, Failed
from assistant.prompt.grounding import GroundedQuestion
from assistant.ui.composer.composer import Composer

logger = logging.getLogger(__name__)

# Long enough that steady typing (a key every 100-300 ms) does not send a prefill per key, short
# enough that a pause to think already prepares the prompt.
DEBOUNCE_MS = 500


class TypingPrefill(QObject):
    """Keeps the engine's KV cache on the question being typed next to perceived images."""

    def __init__(
        self,
        parent: QObject,
        composer: Composer,
        session: ChatSession,
        client: EngineClient,
        current_conversation: Callable[[], int | None],
        attachments_busy: Callable[[], bool],
        early: Callable[[str], EarlyPerception | None],
    ) -> None:
        """`early(path)`: what was read of an attached image so far; `attachments_busy()`: a question
        with attachments is being prepared."""
        super().__init__(parent)
        self._composer = composer
        self._session = session
        self._client = client
        self._current_conversation = current_conversation
        self._attachments_busy = attachments_busy
        self._early = early
        self._in_flight: Ticket | None = None
        self._due = False  # the question changed while a prefill was in flight
        self._prefilled: tuple[object, ...] | None = None  # (conversation, prompt, engine) last prepared
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.prefill_now)
        self._composer.editor.textChanged.connect(self._timer.start)
        self._composer.attachments_changed.connect(self._timer.start)

    @property
    def in_flight(self) -> Ticket | None:
        return self._in_flight

    def perceived(self) -> None:
        """An image's reading ended: with a question typed already, prepare it without waiting."""
        if self._composer.has_text():
            self.prefill_now()

    def answer_finished(self) -> None:
        """The history changed and the engine is free: prepare the question typed meanwhile."""
        self._prefilled = None
        self.prefill_now()

    def send_started(self) -> None:
        """Send was pressed: no more prefills for this draft, and a queued one must not delay it."""
        self._timer.stop()
        self._due = False
        self._prefilled = None  # the history changes with this question
        if self._in_flight is not None:
            self._in_flight.drop()  # its end is of no interest any more
            self._in_flight = None

    def prefill_now(self) -> None:
        self._timer.stop()
        grounded = self.expected_question()
        if grounded is None:
            return
        session, conversation = self._session, self._current_conversation()
        key = (conversation, grounded.prompt, session.engine_config())  # another model: prepare again
        if key == self._prefilled:
            return  # already in the KV cache
        if self._in_flight is not None:
            self._due = True  # sent when the one in flight ends: never two in the engine's queue
            return
        ticket: Ticket | None = None

        def ended(event: Event) -> None:  # this prefill's handler (GUI thread)
            if ticket is not None and ticket is self._in_flight:
                self._prefill_ended(event)

        try:
            ticket = session.prefill(conversation, grounded.question, grounded=grounded, on_event=ended)
        except Exception:  # only a speed-up: Send works as before
            logger.exception("Could not ask the engine to prepare the question")
            return
        if ticket is None:
            return
        self._in_flight, self._prefilled = ticket, key
        logger.debug("Prefill %d: %d characters of prompt", ticket.request_id, len(grounded.prompt))

    def expected_question(self) -> GroundedQuestion | None:
        """What Send would ask now, when that needs no engine work first; else None."""
        composer = self._composer
        if self._attachments_busy() or composer.busy or self._session.active_turn is not None:
            return None
        if composer.editor.isReadOnly():
            return None  # push-to-talk is writing the draft: its live passes must not queue behind us
        text, attached = composer.draft(), composer.attachments()
        if not text.strip() or not attached or any(a.kind != "image" for a in attached):
            return None
        perceived: dict[int, EarlyPerception] = {}
        for index, attachment in enumerate(attached):
            early = self._early(attachment.path)
            if early is None or early.pending or early.found is None or early.error:
                return None  # still being read, or unreadable: Send has work (or a message) first
            perceived[index] = early
        session = self._session
        try:
            # Every image is read, so the job finishes in start() without asking the engine anything.
            job = GroundingJob(self._client, session.settings, session.data_dir, attached, text,
                               perceived=perceived)
            update = job.start()
        except GroundingError:
            return None
        return update.result if update.finished else None

    def _prefill_ended(self, event: Event) -> None:
        """The prefill in flight ended (its other events, a model loading first, change nothing here)."""
        if not isinstance(event, (Done, Failed)):
            return
        self._in_flight = None
        if isinstance(event, Failed):
            logger.info("Preparing the question failed (Send will say why, if it fails too): %s",
                        event.message)
        elif self._due:
            self._due = False
            self.prefill_now()
