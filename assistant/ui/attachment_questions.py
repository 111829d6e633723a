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
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from assistant import attachments as attachments_module
from assistant.attachments import AttachmentRefused
from assistant.grounding_job import GroundingError, GroundingJob, JobUpdate
from assistant.host.messages import Event, ModelLoaded
from assistant.image_library_shared import SharedImages
from assistant.ui.model_picker import display_name

if TYPE_CHECKING:
    from assistant.ui.controller import ChatController

logger = logging.getLogger(__name__)

STILL_WORKING = "Your attachments are still being read: wait for them or press Cancel."
STILL_ANSWERING = "An answer is still being written: wait for it or press Stop."
CANCELLED = "Cancelled. Your question and attachments are still in the box below."


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
            job = GroundingJob(
                self.controller.client,
                self.controller.session.settings,
                self.controller.session.data_dir,
                fresh,
                text,
            )
        except (AttachmentRefused, GroundingError) as error:
            self._refuse(str(error))
            return True
        self._job, self._spoken_language, self.last_error = job, spoken_language, None
        self._images = SharedImages()
        composer.clear_error()
        composer.set_busy(True)
        status.show_info("Preparing your attachments…")
        self._show(job.start())
        return True

    def handle_event(self, event: Event) -> bool:
        """Take the events of the job's requests; False for everyone else's."""
        job = self._job
        if job is None or job.request_id is None or getattr(event, "request_id", None) != job.request_id:
            return False
        if isinstance(event, ModelLoaded):  # the part summaries loaded the chat model
            self.window.status.set_model(display_name(event.model))
        self._images.note(event)
        update = job.handle(event)
        if update is not None:
            self._show(update)
        return True

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
        turn = self.controller.send(result.question, self._spoken_language, grounded=result)
        if turn is not None and self.controller.store is not None:
            self._images.record(self.controller.session.data_dir, turn.conversation_id, turn.user_message_id)

    def _refuse(self, message: str) -> None:
        """Nothing was sent: say why where the user is looking; the draft and files stay."""
        self.last_error = message
        self.window.composer.show_error(message)
        self.window.status.show_error(message)
