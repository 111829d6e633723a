"""The image search panel (View ▸ Search images…): the image library searched by text or by likeness.

A text search asks the engine process to embed the words with the installed CLIP model (the window
never loads onnxruntime), so it is asynchronous: `search` sends an EmbedTextRequest and the answer comes
back to the search's own handler, on the GUI thread. The scan of the library
itself is a few milliseconds of numpy here. "Find similar" needs no engine: the stored image's own
vector is the query. A result opens the conversation it was shared in, scrolled to the question.

Results are shown ranked, captioned with their conversation's title and date and a match strength
relative to the other results (raw cosine similarities mean little to a reader and differ between
models). Without a CLIP model the panel says how to install one and is otherwise inert; images shared
before the model was installed are indexed in the engine meanwhile (`ui.image_indexing`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant.clip.folder import installed_models, read_config
from assistant.history.types import StoreError
from assistant.host.client import Ticket
from assistant.host.messages import Done, EmbedTextRequest, Event, Failed, TextEmbedded, result_of
from assistant.images import kept
from assistant.library.match import STRENGTH_DOTS, STRENGTH_WORDS, match_strengths, shared_date
from assistant.ui.library.image_indexing import BackgroundIndexing

if TYPE_CHECKING:
    from assistant.library.image_library import ImageHit, ImageLibrary
    from assistant.ui.chat.controller import ChatController

logger = logging.getLogger(__name__)

RESULTS = 24
THUMB_PX = 144  # kept thumbnails are 256 px: sharp at this size on a 2x display too
CELL = QSize(THUMB_PX + 32, THUMB_PX + 64)  # room for three caption lines under the picture
NO_CLIP = (
    "Searching images needs a CLIP model, and none is installed. Install one with "
    "`assistant models import-clip ARCH CHECKPOINT` (see the README), then open this panel again. "
    "Images you share meanwhile are kept and will be searchable then."
)
NOTHING = "No shared image matches yet."
EMPTY = (
    "No images yet. Images you attach to a question are kept in your library and can be found here "
    "by what they show: try \"a receipt\" or \"a red car\"."
)
READY = "Search the images shared in your conversations."
INDEXING = ("{count} shared images are still being indexed with the CLIP model; they appear in results "
            "as soon as they are done.")


@dataclass(frozen=True)
class Result:
    """One result as shown: the image and the (first still existing) message that shared it."""

    hash: str
    score: float  # cosine similarity: for ranking and the strength only, never shown as a number
    conversation_id: int
    message_id: int
    title: str
    date: str  # the conversation's last activity, as a caption


class ImageSearchPanel(QDialog):
    def __init__(self, controller: ChatController, data_dir: Path, parent: QWidget | None = None,
                 indexing: BackgroundIndexing | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Search images")
        self.resize(800, 600)
        self.controller = controller
        self.data_dir = Path(data_dir)
        self.indexing = indexing
        self.ticket: Ticket | None = None  # the search being answered
        self.results: list[Result] = []
        self._library: ImageLibrary | None = None
        self._model = ""  # the CLIP fingerprint the library's vectors are searched under

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.query = QLineEdit()
        self.query.setPlaceholderText("Describe the image: a red circle, a receipt, a cat on a sofa…")
        self.query.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        self.grid = QListWidget()
        self.grid.setViewMode(QListWidget.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.grid.setGridSize(CELL)
        self.grid.setUniformItemSizes(True)
        self.grid.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.grid.setMovement(QListWidget.Movement.Static)
        self.grid.setWordWrap(True)
        self.grid.itemDoubleClicked.connect(lambda _item: self.open_selected())
        self.similar_button = QPushButton("Find similar")
        self.similar_button.clicked.connect(self.find_similar)
        self.open_button = QPushButton("Open conversation")
        self.open_button.clicked.connect(self.open_selected)

        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.search_button)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.similar_button)
        bottom.addWidget(self.open_button)
        column = QVBoxLayout(self)
        column.addWidget(self.notice)
        column.addLayout(top)
        column.addWidget(self.grid, 1)
        column.addLayout(bottom)

    # ---- state -------------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return bool(self._model)

    def refresh(self) -> None:
        """Checks for a CLIP model each time the panel opens: one may have been imported meanwhile."""
        folders = installed_models(self.data_dir)
        self._model = ""
        if folders:
            try:
                self._model = read_config(folders[0]).fingerprint  # the model the engine uses too
            except Exception as error:  # a damaged folder: its message says to import it again
                self.notice.setText(str(error))
        else:
            self.notice.setText(NO_CLIP)
        if self._model:
            self.notice.setText(self._library_notice())
        for widget in (self.query, self.search_button, self.grid, self.similar_button, self.open_button):
            widget.setEnabled(self.available)
        if self.available:
            self.query.setFocus()

    def _library_notice(self) -> str:
        """What the library holds for the installed model: nothing yet, images still to index, or ready."""
        if not (self.data_dir / "image_library").is_dir():
            return EMPTY  # nothing shared yet: the library is not created just to say so
        try:
            library = self.library()
            if len(library) == 0:
                return EMPTY
            waiting = len(library.unindexed(self._model))
        except (StoreError, OSError) as error:
            return str(error)
        if not waiting:
            return READY
        if self.indexing is not None:
            self.indexing.start()  # a model installed while the window was open: index now
        return INDEXING.format(count=waiting)

    def indexing_finished(self, indexed: int) -> None:
        """Background indexing ended: a search already shown is run again to include the new images."""
        if not self.isVisible() or not self.available:
            return
        if indexed and self.results and self.query.text().strip():
            self.search()
        elif self.ticket is None:
            self.notice.setText(self._library_notice())

    def showEvent(self, event: Any) -> None:  # Qt override
        self.refresh()
        super().showEvent(event)

    def hideEvent(self, event: Any) -> None:  # Qt override
        if self._library is not None:  # reopened on the next search: no file held while hidden
            self._library.close()
            self._library = None
        super().hideEvent(event)

    def library(self) -> ImageLibrary:
        if self._library is None:
            from assistant.library.image_library import ImageLibrary  # numpy: only once the panel is used

            self._library = ImageLibrary(self.data_dir)
        return self._library

    # ---- searching ---------------------------------------------------------------------------------

    def search(self) -> None:
        text = self.query.text().strip()
        if not text or not self.available:
            return
        if self.ticket is not None:  # the previous search's answer is not wanted any more
            self.ticket.drop()
        ticket: Ticket | None = None

        def answered(event: Event) -> None:  # this search's handler (GUI thread)
            if ticket is not None and ticket is self.ticket:
                self._answered(event)

        try:
            ticket = self.controller.client.send(EmbedTextRequest(text, str(self.data_dir)), answered)
        except Exception as error:  # the engine could not start: say so, keep the window usable
            logger.exception("Could not ask the engine to embed %r", text)
            self.ticket = None
            self.notice.setText(f"The engine could not search: {error}")
            return
        self.ticket = ticket
        self.notice.setText("Searching…")

    def _answered(self, event: Event) -> None:
        """The text embedding of the newest search."""
        if isinstance(event, Failed):
            self.ticket = None
            self.notice.setText(event.message)
        elif isinstance(event, Done):
            self.ticket = None
            embedded = result_of(event, TextEmbedded)
            if embedded is not None:
                self._model = embedded.model
                self._show(lambda library: library.search_vector(embedded.embedding, RESULTS,
                                                                 model=embedded.model))

    def find_similar(self) -> None:
        result = self.selected()
        if result is None or not self.available:
            return
        model = self._model
        self._show(lambda library: library.similar(result.hash, RESULTS, model=model))

    def _show(self, query: Any) -> None:
        """Runs `query(library)` and fills the grid; the library's errors become the notice."""
        try:
            hits: list[ImageHit] = query(self.library())
        except KeyError:
            self.notice.setText("That image has no embedding from the installed CLIP model.")
            return
        except (StoreError, OSError) as error:
            self.notice.setText(str(error))
            return
        self.results = self._results(hits)
        self.grid.clear()
        strengths = match_strengths([r.score for r in self.results])
        for rank, (result, strength) in enumerate(zip(self.results, strengths, strict=True), 1):
            dots = "●" * strength + "○" * (STRENGTH_DOTS - strength)
            item = QListWidgetItem(f"{rank}. {result.title}\n{result.date}\n{dots}")
            item.setToolTip(f"{result.title} ({result.date})\nMatch {dots}: {STRENGTH_WORDS[strength]}, "
                            "compared with the other results.\nDouble-click to open the conversation.")
            item.setSizeHint(CELL)
            digest = result.hash
            thumbnail = kept.thumbnail_path(digest, self.data_dir) or kept.kept_path(digest, self.data_dir)
            if thumbnail is not None:
                item.setIcon(QIcon(QPixmap(str(thumbnail))))
            self.grid.addItem(item)
        if self.results:
            self.grid.setCurrentRow(0)
        self.notice.setText(f"{len(self.results)} images, best match first." if self.results else NOTHING)

    def _results(self, hits: list[ImageHit]) -> list[Result]:
        """Hits with a conversation that still exists (the history may have lost one the library kept)."""
        conversations = {}
        store = self.controller.store
        if store is not None:
            try:
                conversations = {c.id: c for c in store.list_conversations()}
            except StoreError as error:
                logger.warning("Conversation titles unavailable: %s", error)
        results = []
        for hit in hits:
            use = next((u for u in hit.uses if u.conversation_id in conversations), None)
            if use is not None:
                found = conversations[use.conversation_id]
                results.append(Result(hit.hash, hit.score, use.conversation_id, use.message_id,
                                      found.title or "Untitled conversation", shared_date(found.updated_at)))
        return results

    # ---- opening -----------------------------------------------------------------------------------

    def selected(self) -> Result | None:
        row = self.grid.currentRow()
        return self.results[row] if 0 <= row < len(self.results) else None

    def open_selected(self) -> None:
        result = self.selected()
        if result is None:
            return
        self.controller.open_conversation(result.conversation_id)
        view = self.controller.window.chat_view
        # After the layout has placed the bubbles: then the question that shared the image is in view.
        QTimer.singleShot(0, lambda: _scroll_to(view, result.message_id))


def _scroll_to(view: Any, message_id: int) -> None:
    bubble = view.bubble(message_id)
    if bubble is not None:
        view.ensureWidgetVisible(bubble)


class ImageSearch:
    """Opens the one panel of a window on View ▸ Search images…, built on first use."""

    def __init__(self, controller: ChatController, data_dir: Path) -> None:
        self.controller = controller
        self.data_dir = Path(data_dir)
        self.panel: ImageSearchPanel | None = None
        # Images shared before a CLIP model was installed: indexed in the engine (see `start_engine`).
        self.indexing = BackgroundIndexing(controller, self.data_dir)
        self.indexing.finished.append(self._indexing_finished)
        controller.window.search_images_action.triggered.connect(self.open)

    def engine_started(self) -> None:
        self.indexing.start()

    def _indexing_finished(self, indexed: int) -> None:
        if self.panel is not None:
            self.panel.indexing_finished(indexed)

    def open(self) -> ImageSearchPanel:
        if self.panel is None:
            self.panel = ImageSearchPanel(self.controller, self.data_dir, self.controller.window,
                                          self.indexing)
        self.panel.show()
        self.panel.raise_()
        self.panel.activateWindow()
        return self.panel
