"""What the window does: questions, answers, conversations and engine events (all on the GUI thread).

Every failure ends up as a message in the window (chat, composer or status bar); none closes it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from assistant.chat.session import ChatSession, Turn, TurnUpdate
from assistant.history.store import Store, StoreError
from assistant.host.client import EngineClient
from assistant.host.messages import Done, Event, Failed, LoadRequest, ModelLoaded, Progress, Token
from assistant.prompt.documents import Passage, sources
from assistant.prompt.grounding import GroundedQuestion, passages
from assistant.ui.composer.attachment_questions import AttachmentQuestions
from assistant.ui.main_window import MainWindow
from assistant.ui.models.model_picker import display_name
from assistant.ui.voice.read_aloud import ReadAloud

logger = logging.getLogger(__name__)

FINISHED_INFO = {"complete": "", "stopped": "Answer stopped; the text so far was kept."}


class ChatController(QObject):
    def __init__(
        self, window: MainWindow, session: ChatSession, client: EngineClient, store: Store | None
    ) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.client = client
        self.store = store
        self.current_conversation_id: int | None = None
        self.vram_mb: int | None = None  # the GPU memory the engine's llama.cpp build reported (Browse's fit)
        # Answer id -> its question and the numbered passages it was grounded in: the answer's [n]
        # become clickable sources once it is written.
        self._passages: dict[int, tuple[str, list[Passage]]] = {}
        # The chat model loaded now and the engine's accelerator report of that load (Help ▸ About).
        self.loaded: tuple[str, Any] | None = None
        self._engine_started = False
        self._shut_down = False
        self.read_aloud: ReadAloud | None = None  # spoken answers (set by app.build)
        # Questions with attached files are perceived (and grounded) there before they are sent; the
        # grounded question comes back through `ready`.
        self.attachments = AttachmentQuestions(window, session, client, lambda: self.current_conversation_id,
                                               store)
        self.attachments.ready.connect(self._send_grounded)

        window.composer.submitted.connect(self.send)
        window.composer.stop_requested.connect(self.stop)
        window.new_action.triggered.connect(self.new_chat)
        sidebar = window.sidebar
        sidebar.conversation_selected.connect(self.open_conversation)
        sidebar.new_requested.connect(self.new_chat)
        sidebar.rename_requested.connect(self.rename)
        sidebar.delete_requested.connect(self.delete)
        sidebar.search_requested.connect(self.search)
        window.status.set_model(display_name(session.settings.model))

    # ---- engine --------------------------------------------------------------------------------

    @property
    def engine_started(self) -> bool:
        """`start_engine` ran (and preloaded the chosen model)."""
        return self._engine_started

    def start_engine(self) -> None:
        """Runs once the window is on screen: spawning the engine and loading a model take seconds."""
        if self._engine_started or self._shut_down:
            return
        self._engine_started = True
        try:
            self.client.start()
        except Exception as error:  # the window must stay usable and say what happened
            logger.exception("Engine process did not start")
            self.window.status.show_error(f"The engine could not start: {error}")
            return
        self.preload()

    def preload(self) -> None:
        """Load the chosen model now, so the first question does not wait for it."""
        try:
            self.client.send(LoadRequest(self.session.engine_config()), self._on_load_event)
        except Exception as error:
            logger.exception("Could not ask the engine to load the model")
            self.window.status.show_error(f"The model could not be loaded: {error}")
            return
        self.window.status.set_model(display_name(self.session.settings.model))
        self.window.status.set_progress("load", 0, 0)
        self.window.status.show_info("Loading the model…")

    def _on_load_event(self, event: Event) -> None:
        """The preload's events (GUI thread)."""
        status = self.window.status
        if isinstance(event, Done):
            status.hide_progress()  # a load ends with Done; ModelLoaded came before it
        elif isinstance(event, Failed):
            status.hide_progress()
            status.show_error(f"The model could not be loaded: {event.message}")
        else:
            self._show_model_work(event)

    def _on_answer_event(self, event: Event, update: TurnUpdate | None) -> None:
        """The answer's events (GUI thread), after the session stored what they changed."""
        self._show_model_work(event)
        if update is not None:
            if self.read_aloud is not None:
                self.read_aloud.answer_event(update.turn, event)  # sentences are spoken as they end
            self._apply(update)

    def _show_model_work(self, event: Event) -> None:
        """A model being prepared or loaded (by a preload, or by a question that had to load it)."""
        status = self.window.status
        if isinstance(event, Progress):
            status.set_progress(event.stage, event.done, event.total)
            if event.message:
                status.show_info(event.message)
        elif isinstance(event, ModelLoaded):
            status.hide_progress()
            status.set_model(display_name(event.model))
            sees = " It can see images." if event.vision else ""
            if event.accelerator is not None:
                self.vram_mb = event.accelerator.vram_mb if event.accelerator.gpu else None
            self.loaded = (display_name(event.model), event.accelerator)
            status.show_info(f"Model ready (loaded in {event.seconds:.1f} s).{sees}")
        elif isinstance(event, Token):
            status.hide_progress()  # a chat that had to load the model first has started answering

    def _apply(self, update: TurnUpdate) -> None:
        turn = update.turn
        shown = turn.conversation_id == self.current_conversation_id
        view, status = self.window.chat_view, self.window.status
        if not update.finished:
            if shown:
                view.update_streaming(turn.assistant_message_id, turn.text)
            if update.error:
                status.show_error(f"{update.error} The answer keeps streaming but is not saved.")
            return
        self.window.composer.set_streaming(False)
        if shown:
            view.finish_message(
                turn.assistant_message_id, turn.text, update.status, update.error, update.timings
            )
            question, given = self._passages.pop(turn.assistant_message_id, ("", []))
            if given:
                view.set_sources(turn.assistant_message_id, sources(turn.text, question, given))
        if update.error:
            status.show_error(update.error)
        else:
            status.show_info(FINISHED_INFO.get(update.status, ""))
            status.set_stats(update.timings)
        self.refresh_sidebar()
        self.attachments.answer_finished()  # the engine is free: read images attached meanwhile

    # ---- questions -----------------------------------------------------------------------------

    def send(
        self, text: str, spoken_language: str | None = None, grounded: GroundedQuestion | None = None
    ) -> Turn | None:
        """The turn when the question was stored and sent."""
        if grounded is None and self.attachments.intercept(text, spoken_language):
            return None  # attachments are perceived first; `ready` then brings the grounded question
        composer = self.window.composer
        try:
            turn = self.session.send(
                self.current_conversation_id,
                text,
                spoken_language=spoken_language,
                grounded=grounded,
                images=self.session.images_for(grounded),  # () unless the model can see images
                on_event=self._on_answer_event,
            )
        except (ValueError, StoreError) as error:
            # Nothing was sent and the draft stays in the composer for the user to fix or resend.
            composer.show_error(str(error))
            self.window.status.show_error(str(error))
            return None
        except Exception as error:  # saved but not sent: say so and show what is stored
            logger.exception("Question saved but not sent")
            composer.clear_draft()
            self.window.status.show_error(f"Your question was saved but could not be sent: {error}")
            self.refresh_sidebar()
            return None
        self.silence_speech()  # a new question: the previous answer stops talking
        composer.clear_draft()
        composer.clear_error()
        composer.set_streaming(True)
        view = self.window.chat_view
        if turn.conversation_id != self.current_conversation_id:
            self.current_conversation_id = turn.conversation_id
            view.clear()
        question = view.add_message(turn.user_message_id, "user", text)
        if grounded is not None:
            question.set_attachments(grounded.attachments, grounded.groundings)
        view.add_message(turn.assistant_message_id, "assistant", "", model=turn.model, streaming=True)
        view.scroll_to_bottom()
        if grounded is not None:
            self._passages[turn.assistant_message_id] = (grounded.question, passages(grounded.groundings))
        if turn.answered:  # the documents do not cover it: the reply is stored already, no model runs
            self._apply(TurnUpdate(turn, "complete", True))
            return turn
        self.window.status.show_info("Thinking…")
        self.refresh_sidebar()
        return turn

    def _send_grounded(self, grounded: GroundedQuestion, spoken_language: str | None) -> None:
        """The attachments are perceived: ask the question; once stored, its images join the library."""
        turn = self.send(grounded.question, spoken_language, grounded=grounded)
        if turn is not None and self.store is not None:
            self.attachments.record_images(turn.conversation_id, turn.user_message_id)

    def stop(self) -> None:
        self.silence_speech()  # also after the text has finished: Esc stops the voice reading it
        if self.attachments.cancel():
            return  # the transcription (or a part summary) stops; nothing was sent yet
        if self.session.stop():
            self.window.status.show_info("Stopping…")

    def silence_speech(self) -> None:
        """Stop reading the answer aloud at once (Stop, a new question, push-to-talk, closing)."""
        if self.read_aloud is not None:
            self.read_aloud.silence()

    # ---- conversations -------------------------------------------------------------------------

    def refresh_sidebar(self) -> None:
        if self.store is None:
            return
        try:
            summaries = self.store.list_conversations()
        except StoreError as error:
            self.window.status.show_error(str(error))
            return
        self.window.sidebar.set_conversations(summaries, self.current_conversation_id)

    def new_chat(self) -> None:
        self.current_conversation_id = None
        self.window.chat_view.clear()
        self.window.sidebar.select(None)
        self.window.composer.editor.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        """Show a stored chat; an answer streaming elsewhere keeps streaming into its own chat."""
        if self.store is None:
            return
        try:
            messages = self.store.messages(conversation_id)
        except StoreError as error:
            self.window.status.show_error(str(error))
            return
        self.current_conversation_id = conversation_id
        view = self.window.chat_view
        view.show_messages(messages)
        turn = self.session.active_turn
        if turn is not None and turn.conversation_id == conversation_id:
            view.update_streaming(turn.assistant_message_id, turn.text)  # the store lags up to ~0.5 s
        self.window.sidebar.select(conversation_id)
        self.window.composer.editor.setFocus()

    def rename(self, conversation_id: int, title: str) -> None:
        if self.store is None:
            return
        try:
            self.store.rename_conversation(conversation_id, title)
        except StoreError as error:
            self.window.status.show_error(str(error))
        self.refresh_sidebar()

    def delete(self, conversation_id: int) -> None:
        if self.store is None:
            return
        turn = self.session.active_turn
        if turn is not None and turn.conversation_id == conversation_id:
            self.session.stop()  # its answer would have nowhere to go
        try:
            shown = self.store.image_hashes(conversation_id)  # read while its messages still exist
            self.store.delete_conversation(conversation_id)
        except StoreError as error:
            self.window.status.show_error(str(error))
        else:
            self.forget_images(conversation_id, shown)
        if conversation_id == self.current_conversation_id:
            self.new_chat()
        self.refresh_sidebar()

    def forget_images(self, conversation_id: int, shown: set[str]) -> None:
        """A deleted conversation's images leave the image library, and their kept files the disk
        unless another message (or the composer's draft) still shows them (`image_cleanup`)."""
        from assistant.library.cleanup import forget_conversation_images

        forget_conversation_images(self.store, self.session.data_dir, conversation_id, shown,
                                   keep=self._drafted_images())

    def _drafted_images(self) -> set[str]:
        """Hashes of the images attached in the composer (read early, or pasted and named by hash):
        their kept copies are about to be shown by the question being written."""
        hashes = set()
        for attachment in self.window.composer.attachments():
            early = self.attachments.early(attachment.path)
            if early is not None and early.found is not None:
                hashes.add(early.found.sha256)
            hashes.add(Path(attachment.path).stem)
        return hashes

    def search(self, query: str) -> None:
        sidebar = self.window.sidebar
        if not query or self.store is None:
            sidebar.show_conversation_list()
            return
        try:
            hits = self.store.search(query)
        except StoreError as error:
            self.window.status.show_error(str(error))
            return
        sidebar.show_hits(hits)

    # ---- shutdown ------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Keep any half-written answer, stop the engine process, close the history (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        if self.read_aloud is not None:
            self.read_aloud.close()  # silent at once, before the engine takes its time to stop
        self.session.close()
        try:
            self.client.shutdown()
        except Exception:  # closing must finish even if the engine misbehaves
            logger.exception("Engine shutdown failed")
        if self.store is not None:
            self.store.close()
