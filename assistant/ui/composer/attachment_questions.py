"""Questions with attached files, in the window: perceive first, then ask the grounded question.

Recordings are transcribed and images read (OCR text, CLIP labels) in the engine process; any mix of
them and the typed text makes one question.

The controller hands `intercept` every question; when files are attached it starts a `GroundingJob`
(the same one `ask --audio` runs) instead of sending, and the job's engine events come back here through
`handle_event` (on the GUI thread, like every engine event). The status bar and the chip being worked on
show progress, the Send button becomes Cancel, and the draft and the chips stay locked in the composer.
When the job finishes the question goes through the controller's ordinary send, with the grounding; when
it fails or is cancelled, nothing is sent or stored and the draft and the attachments stay for the user.
Once the question is stored, its images go into the image library with their CLIP embeddings.

An image is perceived as soon as it is attached (drop, pick or paste) when no answer is being written:
the result (or the failure, shown on its chip) is kept by the file's path, size and modification time,
and the job reuses it at send, or waits for the request still in flight instead of asking again.
Removing the chip cancels it. While an answer streams nothing is started early (the engine is serial):
images attached meanwhile are read as soon as it ends (`answer_finished`). Once every image is read,
`TypingPrefill` has the engine evaluate the question's prompt while the user types it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from assistant.chat import attachments as attachments_module
from assistant.chat.attachments import AttachmentRefused
from assistant.chat.grounding_job import EarlyPerception, GroundingError, GroundingJob, JobUpdate
from assistant.host.messages import Done, Event, Failed, ImagePerceived, ModelLoaded
from assistant.library.shared import SharedImages
from assistant.ui.composer.typing_prefill import TypingPrefill
from assistant.ui.models.model_picker import display_name

if TYPE_CHECKING:
    from assistant.ui.chat.controller import ChatController

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
    request_id: int | None  # None once it ended
    found: ImagePerceived | None = None
    error: str | None = None


class AttachmentQuestions(QObject):
    def __init__(self, controller: ChatController) -> None:
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self._job: GroundingJob | None = None
        self._spoken_language: str | None = None
        self.last_error: str | None = None
        self.progress: JobUpdate | None = None  # the job's latest update (kept after it ends)
        self._images = SharedImages()  # the job's images, for the library once the question is stored
        self._early: dict[str, _Early] = {}  # by path: images perceived since they were attached
        self._handed: dict[int, list[Event]] = {}  # early requests the job took over: events it awaits
        self._ignored: set[int] = set()  # cancelled early requests whose last events are still to come
        self.early_requests: list[int] = []  # every early perceive started (for tests and logs)
        self.window.composer.attachments_changed.connect(self._attachments_changed)
        self.typing_prefill = TypingPrefill(self)  # the question's prompt evaluated while it is typed

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
        if not attached:
            return False
        if self.controller.session.active_turn is not None:
            self._refuse(STILL_ANSWERING)
            return True
        try:
            # Checked again: the file may have been moved, emptied or replaced since it was attached.
            fresh = [attachments_module.from_path(a.path, kinds=(a.kind,)) for a in attached]
            perceived = self._reusable(fresh)
            job = GroundingJob(
                self.controller.client,
                self.controller.session.settings,
                self.controller.session.data_dir,
                fresh,
                text,
                perceived=perceived,
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
            if early.request_id is not None:
                self._handed[early.request_id] = []
        composer.clear_error()
        composer.set_busy(True)
        status.show_info("Preparing your attachments…")
        self._show(job.start())
        self._replay()
        return True

    def handle_event(self, event: Event) -> bool:
        """Take the events of the job's requests and of early perception; False for everyone else's."""
        request_id = getattr(event, "request_id", None)
        if self.typing_prefill.handle_event(event):
            return True
        if request_id in self._ignored:
            if isinstance(event, (Done, Failed)):
                self._ignored.discard(request_id)
            return True
        if self._early_event(request_id, event):
            return True
        job = self._job
        if job is not None and request_id in self._handed and request_id != job.request_id:
            self._handed[request_id].append(event)  # the job waits for an earlier step first
            return True
        if job is None or job.request_id is None or request_id != job.request_id:
            return False
        self._deliver(job, event)
        self._replay()
        return True

    def _replay(self) -> None:
        """The job now waits for an early request it took over: give it the events kept for it."""
        while self._job is not None and self._job.request_id in self._handed:
            job = self._job
            for event in self._handed.pop(job.request_id):  # type: ignore[arg-type]
                if self._job is not job or job.request_id != getattr(event, "request_id", None):
                    break
                self._deliver(job, event)

    def _deliver(self, job: GroundingJob, event: Event) -> None:
        if isinstance(event, ModelLoaded):  # the part summaries loaded the chat model
            self.window.status.set_model(display_name(event.model))
        self._images.note(event)
        update = job.handle(event)
        if update is not None:
            self._show(update)

    # ---- early perception ----------------------------------------------------------------------------

    def early(self, path: str) -> EarlyPerception | None:
        """What was perceived (or is being perceived) for the attached image at `path` before Send."""
        found = self._early.get(path)
        return None if found is None else EarlyPerception(found.request_id, found.found, found.error)

    @property
    def early_pending(self) -> int:
        """Early requests not ended yet (cancelled ones included, until the engine confirms)."""
        return sum(e.request_id is not None for e in self._early.values()) + len(self._ignored)

    def _attachments_changed(self) -> None:
        """Chips added or removed: perceive new images now (when the engine is free), cancel removed ones."""
        if self._job is not None:
            return
        attached = self.window.composer.attachments()
        images = {a.path for a in attached if a.kind == "image"}
        for path in [p for p in self._early if p not in images]:
            self._forget(path)
        if self.controller.session.active_turn is None:
            session = self.controller.session
            for attachment in attached:
                if attachment.kind != "image" or attachment.path in self._early:
                    continue
                key = file_key(attachment.path)
                if key is None:
                    continue  # gone already: the send says so
                try:
                    request_id = self.controller.client.perceive(
                        attachment.path, session.data_dir, threads=session.settings.threads
                    )
                except Exception:  # the engine could not be asked: perceived at send, as without this
                    logger.exception("Could not start reading %s early", attachment.path)
                    continue
                self.early_requests.append(request_id)
                self._early[attachment.path] = _Early(key, request_id)
        self._show_early()

    def answer_finished(self) -> None:
        """Images attached while the answer streamed are read now, so they are ready by Send."""
        self._attachments_changed()
        self.typing_prefill.answer_finished()

    def _early_event(self, request_id: int | None, event: Event) -> bool:
        early = next((e for e in self._early.values() if e.request_id == request_id), None)
        if early is None or request_id is None:
            return False
        if isinstance(event, ImagePerceived):
            early.found = event
        elif isinstance(event, Failed):
            early.request_id = None
            if event.kind == "crashed":  # the engine restarts: read again at send
                self._early.pop(early.key[0], None)
            else:
                early.error = event.message
            self._show_early()
        elif isinstance(event, Done):
            early.request_id = None
            if event.status != "complete" or early.found is None:
                self._early.pop(early.key[0], None)  # read again at send
            self._show_early()
            self.typing_prefill.perceived()
        return True

    def _forget(self, path: str) -> None:
        early = self._early.pop(path, None)
        if early is not None and early.request_id is not None:
            self._ignored.add(early.request_id)
            self.controller.client.cancel(early.request_id)

    def _reusable(self, fresh: list[attachments_module.Attachment]) -> dict[int, EarlyPerception]:
        """What was perceived early for these attachments, for files unchanged since then."""
        reusable: dict[int, EarlyPerception] = {}
        for index, attachment in enumerate(fresh):
            early = self._early.get(attachment.path)
            if early is None or attachment.kind != "image":
                continue
            if file_key(attachment.path) != early.key:
                self._forget(attachment.path)  # changed since it was attached: read it again
                continue
            reusable[index] = EarlyPerception(early.request_id, early.found, early.error)
        return reusable

    def _show_early(self) -> None:
        chips = self.window.composer.chips.chips()
        for chip, attachment in zip(chips, self.window.composer.attachments(), strict=False):
            early = self._early.get(attachment.path)
            if early is None:
                continue
            if early.error is not None:
                chip.set_note(UNREADABLE_NOTE)
                chip.setToolTip(early.error)
            else:
                chip.set_note(READING_NOTE if early.request_id is not None else "")

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
        for request_id, events in self._handed.items():  # early requests the job never reached
            if not any(isinstance(e, (Done, Failed)) for e in events):
                self._ignored.add(request_id)
                self.controller.client.cancel(request_id)
        self._handed.clear()
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
        turn = self.controller.send(result.question, self._spoken_language, grounded=result)
        if turn is not None and self.controller.store is not None:
            self._images.record(self.controller.session.data_dir, turn.conversation_id, turn.user_message_id)

    def _refuse(self, message: str) -> None:
        """Nothing was sent: say why where the user is looking; the draft and files stay."""
        self.last_error = message
        self.window.composer.show_error(message)
        self.window.status.show_error(message)
