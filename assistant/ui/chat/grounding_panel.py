"""The folded "What the model was told" block under a question that had attachments.

It shows each grounding (a transcript with timestamps, part summaries, the text read in an image and
its labels) as plain text, escaped: a transcript or a screenshot's text is untrusted, and Markdown would
turn "[00:12]" or a "#" into something it is not.
Folded by default: a transcript can be long, and the conversation stays readable.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton, QVBoxLayout, QWidget

from assistant.prompt.grounding import Grounding
from assistant.ui.chat import markdown_render
from assistant.ui.chat.safe_text import SafeTextBrowser

TITLE = "What the model was told"


class GroundingPanel(QWidget):
    def __init__(self, groundings: Sequence[Grounding]) -> None:
        super().__init__()
        self.groundings = tuple(groundings)
        self.toggle = QToolButton()
        self.toggle.setObjectName("groundingToggle")
        self.toggle.setText(TITLE)
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.body = SafeTextBrowser()
        self.body.setObjectName("groundingBody")
        self.body.hide()
        self._rendered = False  # a three-hour transcript is laid out only if someone unfolds it
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self.toggle.toggled.connect(self.set_expanded)

    @property
    def expanded(self) -> bool:
        return not self.body.isHidden()

    def set_expanded(self, expanded: bool) -> None:
        if self.toggle.isChecked() != expanded:
            self.toggle.setChecked(expanded)  # comes back here through `toggled`
            return
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        if expanded and not self._rendered:
            self.body.setHtml(to_html(self.groundings))
            self._rendered = True
        self.body.setVisible(expanded)
        if expanded:
            self.body.fit_height()

    def plain_text(self) -> str:
        """What the unfolded panel shows (rendered now if it never was)."""
        if not self._rendered:
            self.body.setHtml(to_html(self.groundings))
            self._rendered = True
        return self.body.toPlainText()


def to_html(groundings: Sequence[Grounding]) -> str:
    """Headings in bold, each grounding's text escaped and kept line by line."""
    sections = []
    for grounding in groundings:
        heading = markdown_render.escape_plain(grounding.heading())
        text = markdown_render.escape_plain(grounding.shown_text())
        sections.append(f"<p><b>{heading}</b></p>{text}")
    return "".join(sections)
