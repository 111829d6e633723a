"""Light and dark palettes plus the few style rules the chat bubbles need."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Colors:
    window: str
    base: str
    alternate: str
    text: str
    muted: str
    border: str
    accent: str
    user_bubble: str
    assistant_bubble: str
    error: str


LIGHT = Colors(
    window="#f4f5f7",
    base="#ffffff",
    alternate="#eef0f3",
    text="#1f2328",
    muted="#6b7280",
    border="#d9dce1",
    accent="#2563eb",
    user_bubble="#dbe8fd",
    assistant_bubble="#ffffff",
    error="#b91c1c",
)
DARK = Colors(
    window="#1e1f22",
    base="#2b2d31",
    alternate="#313338",
    text="#e6e7e9",
    muted="#9ca3af",
    border="#3f4249",
    accent="#5b8def",
    user_bubble="#26406a",
    assistant_bubble="#2b2d31",
    error="#f87171",
)

BADGE_COLORS = {"stopped": "#b45309", "interrupted": "#c2410c", "failed": "#b91c1c"}


def colors(dark: bool) -> Colors:
    return DARK if dark else LIGHT


def apply_theme(app: QApplication, dark: bool) -> None:
    """Fusion style everywhere, so the dark palette looks the same on every desktop."""
    c = colors(dark)
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: c.window,
        QPalette.ColorRole.WindowText: c.text,
        QPalette.ColorRole.Base: c.base,
        QPalette.ColorRole.AlternateBase: c.alternate,
        QPalette.ColorRole.Text: c.text,
        QPalette.ColorRole.Button: c.alternate,
        QPalette.ColorRole.ButtonText: c.text,
        QPalette.ColorRole.ToolTipBase: c.base,
        QPalette.ColorRole.ToolTipText: c.text,
        QPalette.ColorRole.PlaceholderText: c.muted,
        QPalette.ColorRole.Highlight: c.accent,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: c.accent,
    }
    for role, value in roles.items():
        palette.setColor(role, QColor(value))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(c.muted))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(c.muted))
    app.setPalette(palette)
    app.setStyleSheet(stylesheet(dark))


def stylesheet(dark: bool) -> str:
    c = colors(dark)
    badges = "\n".join(
        f'QLabel[badge="{name}"] {{ color: white; background: {color}; border-radius: 4px;'
        " padding: 1px 6px; font-size: 11px; }"
        for name, color in BADGE_COLORS.items()
    )
    return f"""
QFrame#userBubble {{ background: {c.user_bubble}; border-radius: 12px; }}
QFrame#assistantBubble {{ background: {c.assistant_bubble}; border: 1px solid {c.border};
    border-radius: 12px; }}
QTextBrowser#bubbleBody {{ background: transparent; border: none; }}
QLabel#bubbleRole {{ font-weight: bold; color: {c.muted}; }}
QLabel#bubbleMeta {{ color: {c.muted}; font-size: 11px; }}
QLabel#bubbleError, QLabel#composerError {{ color: {c.error}; }}
QLabel#emptyState {{ color: {c.muted}; font-size: 15px; }}
QWidget#chatContainer {{ background: {c.window}; }}
QScrollArea#chatView {{ border: none; background: {c.window}; }}
QPlainTextEdit#composerEdit {{ background: {c.base}; border: 1px solid {c.border}; border-radius: 8px;
    padding: 4px; }}
QPushButton#sendButton {{ background: {c.accent}; color: white; border-radius: 8px; padding: 6px 16px;
    font-weight: bold; }}
QPushButton#sendButton:disabled {{ background: {c.border}; color: {c.muted}; }}
QPushButton#sendButton[streaming="true"] {{ background: {c.error}; }}
QListWidget#conversationList, QListWidget#searchHits {{ border: none; background: {c.alternate}; }}
QListWidget#conversationList::item {{ padding: 5px 4px; border-radius: 6px; }}
QListWidget#conversationList::item:selected {{ background: {c.accent}; color: white; }}
QWidget#sidebar {{ background: {c.alternate}; }}
QLabel#statusError {{ color: {c.error}; }}
{badges}
"""
