"""Questions with attached files, in the window: perceive first, then ask the grounded question.

Recordings are transcribed and images read (OCR text, CLIP labels) in the engine process; any mix of
them and the typed text makes one question.

The controller hands `intercept` every question; when files are attached it starts a `GroundingJob`
(the same one `ask --audio` runs) instead of sending; the job's requests are bound to the job, whose
updates come back here on the GUI thread. The status bar and the chip being worked on show progress, the
Send button becomes Cancel, and the draft and the chips stay locked in the composer. When the job
finishes, `ready` hands the grounded question to the controller's ordinary send; when it fails or is
cancelled, nothing is sent or stored and the draft and the attachments stay for the user. Once the
question is stored (`record_images`), its images go into the image library with their CLIP embeddings.

An image is perceived as soon as it is attached (drop, pick or paste) when no answer is being written:
the result (or the failure, shown on its chip) is kept by the file's path, size and modification time,
and the job reuses it at send, or waits for the request still in flight instead of asking again.
Removing the chip cancels it, and what the draft wrote for it goes (`draft_files`: a pasted or captured
image's file, the copy its read kept) unless a stored question shows it. While an answer streams
nothing is started early (the engine is serial): images attached meanwhile are read as soon as it ends
(`answer_finished`). Once every image is read, `TypingPrefill` has the engine evaluate the question's
prompt while the user types it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from assistant.chat.grounding_job import EarlyPerception, GroundingError, GroundingJob, JobUpdate
from assistant.chat.session import ChatSession
from assistant.chat.shared_images import SharedImages
from assistant.host.client import EngineClient, Handler, Ticket
from assistant.host.messages import (
    ChatRequest,
    Done,
    Event,
    Failed,
    ImagePerceived,
    ModelLoaded,
    PerceiveRequest,
    result_of,
)
from assistant.prompt import attachments as attachments_module
from assistant.prompt.attachments import Attachment, AttachmentRefused
from assistant.prompt.grounding import prompt_start
from assistant.ui.composer.draft_files import DraftFiles, file_sha256
from assistant.ui.composer.typing_prefill import TypingPrefill
from assistant.ui.main_window import MainWindow
from assistant.ui.models.model_picker import display_name

if TYPE_CHECKING:
    from assistant.history.store import Store

logger = logging.getLogger(__name__)

STILL_WORKING = "Your attachments are still being read: wait for them or press Cancel."
STILL_ANSWERING = "An answer is still being written: wait for it or press Stop."
CANCELLED = "Cancelled. Your question and attachments are still in the box below."
READING_NOTE = "reading…"
UNREADABLE_NOTE = "cannot be read"

FileKey = tuple[str, int, int]  # path, size, modification time (ns): the attached file as it was read


def file_key(path: str) -> FileKey | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (path, info.st_size, info.st_mtime_ns)


@dataclass
class _Early:
    """An image perceived (or being perceived) since it was attached."""

    key: FileKey
    ticket: Ticket | None = None  # None once it ended
    found: ImagePerceived | None = None
    error: str | None = None
    follower: Handler | None = None  # the job that took it over gets its remaining events
    dropped: bool = False  # the chip was removed (or the file changed): its last events change nothing
    release: bool = False  # dropped with the draft: its kept copy goes once the read ends
    release_hashes: tuple[str, ...] = ()  # the dropped file's sha256, known when it was dropped

    def follow(self, handler: Handler) -> None:
        self.follower = handler

    def snapshot(self) -> EarlyPerception:
        follow = self.follow if self.ticket is not None else None
        return EarlyPerception(self.ticket, self.found, self.error, follow)


class AttachmentQuestions(QObject):
    # The attachments became a grounded question (GroundedQuestion, spoken language or None): send it.
    ready = Signal(object, object)

    def __init__(
        self,
        window: MainWindow,
        session: ChatSession,
        client: EngineClient,
        current_conversation: Callable[[], int | None],
        store: Store | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.client = client
        self._current_conversation = current_conversation
        self._job: GroundingJob | None = None
        self._spoken_language: str | None = None
        self.last_error: str | None = None
        self.progress: JobUpdate | None = None  # the job's latest update (kept after it ends)
        self._images = SharedImages()  # the job's images, for the library once the question is stored
        self._early: dict[str, _Early] = {}  # by path: images perceived since they were attached
        self._dropped_pending = 0  # early reads cancelled whose end the engine has not confirmed yet
        self.early_requests: list[int] = []  # every early perceive started (for tests and logs)
        # Files the draft made (pasted or captured images, kept copies of early reads) leave with it.
        self.draft_files = DraftFiles(session.data_dir, store)
        self.draft_files.sweep()  # left by a crash: no draft of this start shows them
        self._attached: set[str] = set()
        self.window.composer.attachments_changed.connect(self._attachments_changed)
        self.window.closing.connect(self._draft_abandoned)  # before the controller closes the store
        # The question's prompt evaluated while it is typed.
        self.typing_prefill = TypingPrefill(
            self, window.composer, session, client, current_conversation, lambda: self.busy, self.early
        )

    @property
    def busy(self) -> bool:
        return self._job is not None

    def intercept(self, text: str, spoken_language: str | None = None) -> bool:
        """True when this question is handled here (started, or refused with a message)."""
        composer, status = self.window.composer, self.window.status
        if self._job is not None:
            self._refuse(STILL_WORKING)
            return True
        attached = composer.attachments()
        use_documents = self.session.settings.use_documents  # "Use my documents": search them first
        if not attached and not use_documents:
            return False
        if self.session.active_turn is not None:
            self._refuse(STILL_ANSWERING)
            return True
        try:
            # Checked again: the file may have been moved, emptied or replaced since it was attached.
            fresh = [attachments_module.from_path(a.path, kinds=(a.kind,)) for a in attached]
            perceived = self._reusable(fresh)
            job = GroundingJob(
                self.client,
                self.session.settings,
                self.session.data_dir,
                fresh,
                text,
                perceived=perceived,
                on_update=self._show,
                on_event=self._noticed,
                use_documents=use_documents,
                prefill_for=lambda start: self.session.prefill_request(
                    self._current_conversation(), start, spoken_language=spoken_language),
            )
        except (AttachmentRefused, GroundingError) as error:
            self._refuse(str(error))
            return True
        self._job, self._spoken_language, self.last_error = job, spoken_language, None
        self.typing_prefill.send_started()
        self._images = SharedImages()
        for index, early in perceived.items():  # handed over to the job
            self._early.pop(fresh[index].path, None)
            if early.found is not None:
                self._images.note(early.found)
        composer.clear_error()
        composer.set_busy(True)
        status.show_info("Preparing your attachments…" if attached else "Searching your documents…")
        self._show(job.start())
        return True

    def _noticed(self, event: Event) -> None:
        """Every event of the job's requests, before the job uses it (GUI thread)."""
        if isinstance(event, ModelLoaded):  # the part summaries loaded the chat model
            self.window.status.set_model(display_name(event.model))
        self._images.note(event)

    def record_images(self, conversation_id: int, user_message_id: int) -> None:
        """The grounded question is stored: its images go into the image library."""
        self._images.record(self.session.data_dir, conversation_id, user_message_id)

    # ---- early perception ----------------------------------------------------------------------------

    def early(self, path: str) -> EarlyPerception | None:
        """What was perceived (or is being perceived) for the attached image at `path` before Send."""
        found = self._early.get(path)
        return None if found is None else found.snapshot()

    @property
    def early_pending(self) -> int:
        """Early requests not ended yet (cancelled ones included, until the engine confirms)."""
        return sum(e.ticket is not None for e in self._early.values()) + self._dropped_pending

    def _attachments_changed(self) -> None:
        """Chips added or removed: perceive new images now (when the engine is free), cancel removed ones."""
        attached = self.window.composer.attachments()
        removed = self._attached - {a.path for a in attached}
        self._attached = {a.path for a in attached}
        if self._job is not None:
            return
        images = {a.path for a in attached if a.kind == "image"}
        read = [self._forget(path) for path in [p for p in self._early if p not in images]]
        if removed:  # a chip's ×, or the draft cleared once its question was stored
            self.draft_files.release(removed, [digest for digest in read if digest], self._drafted_hashes())
        if self.session.active_turn is None:
            session = self.session
            for attachment in attached:
                if attachment.kind != "image" or attachment.path in self._early:
                    continue
                key = file_key(attachment.path)
                if key is None:
                    continue  # gone already: the send says so
                early = _Early(key)
                request = PerceiveRequest(attachment.path, str(session.data_dir), session.settings.threads,
                                          prefill=self._prompt_start(attached, attachment))
                try:
                    early.ticket = self.client.send(request, partial(self._early_event, early))
                except Exception:  # the engine could not be asked: perceived at send, as without this
                    logger.exception("Could not start reading %s early", attachment.path)
                    continue
                self.early_requests.append(early.ticket.request_id)
                self._early[attachment.path] = early
        self._show_early()

    def _prompt_start(self, attached: list[Attachment], attachment: Attachment) -> ChatRequest | None:
        """For the first attachment, an image: the question's prompt up to its text, which the engine
        evaluates while it reads the image (`PerceiveRequest.prefill`); the typing prefill goes on
        from there."""
        start = prompt_start(attached) if attached and attached[0] is attachment else None
        return self.session.prefill_request(self._current_conversation(), start) if start else None

    def answer_finished(self) -> None:
        """Images attached while the answer streamed are read now, so they are ready by Send."""
        self._attachments_changed()
        self.typing_prefill.answer_finished()

    def _early_event(self, early: _Early, event: Event) -> None:
        """An early read's handler (GUI thread); once the job took it over, the events go on to it."""
        ended = isinstance(event, (Done, Failed))
        found_now = result_of(event, ImagePerceived)
        if early.dropped:
            if found_now is not None:
                early.found = found_now  # read (and kept) after all: its copy goes below
            if ended:
                self._dropped_pending -= 1
                found = (early.found.sha256,) if early.found is not None else ()
                if early.release:  # the read may have kept its copy before it saw the cancel
                    self.draft_files.forget_kept({*early.release_hashes, *found}, self._drafted_hashes())
            return
        if isinstance(event, Failed):
            early.ticket = None
            if event.kind == "crashed":  # the engine restarts: read again at send
                self._discard(early)
                self.window.status.show_error(f"{event.message} The image is read again when you send.")
            else:
                early.error = event.message
        elif isinstance(event, Done):
            early.ticket = None
            early.found = found_now
            if event.status != "complete" or early.found is None:
                self._discard(early)  # read again at send
        if early.follower is not None:
            early.follower(event)  # taken over by the job: it waits for this request
            return
        if ended:
            self._show_early()
            if isinstance(event, Done):
                self.typing_prefill.perceived()

    def _discard(self, early: _Early) -> None:
        if self._early.get(early.key[0]) is early:
            del self._early[early.key[0]]

    def _forget(self, path: str, release: bool = True) -> str | None:
        """Stop caring about the early read of `path`; the hash of what it kept, once known (else the
        copy goes when the cancelled read ends, with `release`)."""
        early = self._early.pop(path, None)
        if early is None:
            return None
        if early.ticket is not None:
            # The kept copy is named by the file's sha256: known now, while the file is still there.
            digest = file_sha256(Path(path)) if release else None
            early.dropped, early.release = True, release
            early.release_hashes = (digest,) if digest else ()
            self._dropped_pending += 1
            early.ticket.cancel()
            return None
        return early.found.sha256 if early.found is not None else None

    def _drafted_hashes(self) -> set[str]:
        """The kept copies the chips still in the composer show (read early, or pasted and named by hash)."""
        hashes = {e.found.sha256 for e in self._early.values() if e.found is not None}
        return hashes | {os.path.splitext(os.path.basename(path))[0] for path in self._attached}

    def _draft_abandoned(self) -> None:
        """The window closes with a draft unsent: its pasted and captured images, and the copies its
        early reads kept, go (a question being prepared was not stored either)."""
        read = [self._forget(path) for path in list(self._early)]
        self.draft_files.release(self._attached, [digest for digest in read if digest])
        self._attached = set()

    def _reusable(self, fresh: list[attachments_module.Attachment]) -> dict[int, EarlyPerception]:
        """What was perceived early for these attachments, for files unchanged since then."""
        reusable: dict[int, EarlyPerception] = {}
        for index, attachment in enumerate(fresh):
            early = self._early.get(attachment.path)
            if early is None or attachment.kind != "image":
                continue
            if file_key(attachment.path) != early.key:
                self._forget(attachment.path, release=False)  # changed since it was attached: read again
                continue
            reusable[index] = early.snapshot()
        return reusable

    def _show_early(self) -> None:
        chips = self.window.composer.chips.chips()
        for chip, attachment in zip(chips, self.window.composer.attachments(), strict=False):
            early = self._early.get(attachment.path)
            if early is None:
                if chip.note.text() == READING_NOTE:  # its read ended with the engine: read at send
                    chip.set_note("")
                continue
            if early.error is not None:
                chip.set_note(UNREADABLE_NOTE)
                chip.setToolTip(early.error)
            else:
                chip.set_note(READING_NOTE if early.ticket is not None else "")

    def cancel(self) -> bool:
        """The Cancel button (or Esc): the engine stops the current step; the finished update follows."""
        if self._job is None or not self._job.cancel():
            return False
        self.window.status.show_info("Cancelling…")
        return True

    def _show(self, update: JobUpdate) -> None:
        self.progress = update
        if update.finished:
            self._finish(update)
            return
        status, composer = self.window.status, self.window.composer
        status.show_info(f"{update.message}…")
        if update.total > 0:
            summarising = update.message.startswith(("Summarising", "Combining"))
            status.set_progress("summarising" if summarising else "transcribing", update.done, update.total)
            percent = min(100, 100 * update.done // update.total)
            composer.set_attachment_note(update.attachment, f"{percent}%")
        else:
            status.set_progress("working", 0, 0)
            composer.set_attachment_note(update.attachment, "…")

    def _finish(self, update: JobUpdate) -> None:
        self._job = None
        composer, status = self.window.composer, self.window.status
        composer.set_busy(False)
        status.hide_progress()
        if update.cancelled:
            status.show_info(CANCELLED)
            return
        if update.error is not None or update.result is None:
            self._refuse(update.error or "The attachments could not be used.")
            return
        result = update.result
        logger.info("Grounded question ready: %d groundings", len(result.groundings))
        self.ready.emit(result, self._spoken_language)

    def _refuse(self, message: str) -> None:
        """Nothing was sent: say why where the user is looking; the draft and files stay."""
        self.last_error = message
        self.window.composer.show_error(message)
        self.window.status.show_error(message)
