"""The "Sources" line under an answer from documents: each cited passage as a link that opens its file.

Only the passages the answer cites are listed, under the numbers it used ([1] report.pdf, page 3), in the
order it first cited them (`prompt.documents.cited`). The names come from the user's files, so they are
escaped; the links carry only the passage's number, never a path, so nothing in the text can make the
window open something the question was not grounded in.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from assistant.prompt.documents import Passage
from assistant.ui.documents.open_source import SourceOpener, source_url

LINK_SCHEME = "source"


class AnswerSources(QWidget):
    opened = Signal(object)  # the Passage handed to a viewer

    def __init__(self, passages: Sequence[Passage], opener: SourceOpener | None = None) -> None:
        super().__init__()
        self.setObjectName("answerSources")
        self.passages = tuple(passages)
        self._opener = opener or SourceOpener()
        self._by_number = {p.number: p for p in self.passages}
        links = [f'<a href="{LINK_SCHEME}:{p.number}">[{p.number}] {html.escape(p.label)}</a>'
                 for p in self.passages]
        self.label = QLabel("Sources: " + " · ".join(links))
        self.label.setObjectName("answerSourcesLinks")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                           | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.label.setToolTip("Click a source to open the file" + (" at its page" if any(
            p.page for p in self.passages) else ""))
        self.label.linkActivated.connect(self._activated)
        self.error = QLabel()
        self.error.setObjectName("bubbleError")
        self.error.setWordWrap(True)
        self.error.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.label)
        layout.addWidget(self.error)

    def urls(self) -> list[str]:
        """What each source opens, in the order shown (for tests and tooltips)."""
        return [source_url(p.path, p.page).toString() for p in self.passages]

    def open_number(self, number: int) -> str | None:
        """Open the source cited as [number]; None when it opened, else the message shown."""
        passage = self._by_number.get(number)
        if passage is None:
            return None
        problem = self._opener.open(passage)
        self.error.setVisible(problem is not None)
        self.error.setText(problem or "")
        if problem is None:
            self.opened.emit(passage)
        return problem

    def _activated(self, link: str) -> None:
        scheme, _, number = link.partition(":")
        if scheme == LINK_SCHEME and number.isdigit():
            self.open_number(int(number))
