"""The history store's value types, errors and pure helpers (re-exported by `assistant.history.store`).

Kept apart so that `store.py` holds the SQL, while the translation from SQLite's error codes to advice a
person can follow, and from typed text to a safe search query, each sit in one small, testable place.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from assistant.images import kept
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding

MESSAGE_STATUSES = ("streaming", "complete", "stopped", "interrupted", "failed")
DEFAULT_TITLE = "New chat"
# Search snippets wrap each match in these; the UI may swap them for markup after escaping the text.
MATCH_START = "«"
MATCH_END = "»"
# `SearchHit.message_id` of a hit on a conversation's title rather than on one of its messages.
TITLE_HIT = 0

_MAX_SEARCH_WORDS = 32
# Letters and digits only: quoting each word as an FTS5 string makes operators (AND, NEAR, quotes,
# parentheses, column filters) plain text, and dropping punctuation avoids empty phrases.
_WORD = re.compile(r"[^\W_]+")


def fts_query(text: str) -> str | None:
    """Turn what the user typed into a safe FTS5 query: every word must match, the last one as a prefix.

    Returns None when there is nothing searchable (only punctuation or spaces).
    """
    words = _WORD.findall(text)[:_MAX_SEARCH_WORDS]
    if not words:
        return None
    phrases = [f'"{word}"' for word in words]  # `_WORD` never matches a quote, so no escaping is needed
    phrases[-1] += "*"  # the user is probably still typing the last word
    return " ".join(phrases)


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    created_at: float
    updated_at: float
    message_count: int


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    text: str
    status: str
    model: str | None
    timings: dict
    created_at: float
    # Schema 2: the exact user message the model got when it differs from `text` (None: it is `text`),
    # the files attached to the question and what the model was told about them.
    prompt: str | None = None
    attachments: tuple[Attachment, ...] = ()
    groundings: tuple[Grounding, ...] = ()
    # Schema 3: an answer's sampling (temperature, top_k, top_p, min_p, repeat_penalty, seed, task,
    # reason; see chat/sampling.py); None for questions and for answers written before it was recorded.
    sampling: dict | None = None

    @property
    def sent_text(self) -> str:
        """What the model was given for this message, e.g. when it comes back as history."""
        return self.prompt if self.prompt is not None else self.text

    def kept_images(self, data_dir: Path) -> tuple[str, ...]:
        """The kept copies of the images shared with this message, in the order they were attached.

        An image whose kept copy is gone (deleted by hand, or never written: disk full) is left out; the
        model still has its grounding text in the message.
        """
        hashes = dict.fromkeys(g.image for g in self.groundings if g.kind == "image" and g.image)
        paths = (kept.kept_path(sha, data_dir) for sha in hashes)
        return tuple(str(path) for path in paths if path is not None)


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int  # TITLE_HIT when the title matched
    title: str
    snippet: str  # matches wrapped in MATCH_START / MATCH_END


class StoreError(Exception):
    """Raised with a user-facing message (e.g. disk full, read-only) — str(e) is shown to the user as is."""


class NotFoundError(StoreError, LookupError):
    """The conversation or message was deleted (or never existed); also a LookupError for callers."""


def user_message(error: sqlite3.Error, failure: str, path: Path) -> str:
    """Explain an SQLite error so the user can act on it; `failure` says what did not happen."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    lowered = str(error).lower()
    if primary == sqlite3.SQLITE_FULL or "disk is full" in lowered:
        return f"Your disk is full: {failure}. Free some space and try again."
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM) or "readonly" in lowered:
        return (
            f"Your history folder is read-only ({path.parent}): {failure}. "
            "Make the folder writable (or move it to a disk you can write to) and try again."
        )
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (
            f"Your history ({path}) is in use by another program, perhaps a second copy of the assistant: "
            f"{failure}. Close the other program and try again."
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return (
            f"Your history file is damaged or is not a history file ({path}): {failure}. "
            "Keep a copy of the file somewhere safe before trying to repair or replace it."
        )
    if primary == sqlite3.SQLITE_CANTOPEN:
        return (
            f"Your history file could not be opened ({path}): {failure}. "
            "Check that its folder exists and that you may write to it."
        )
    if primary == sqlite3.SQLITE_IOERR:
        return (
            f"Your history could not be read or written on disk ({path}): {failure}. "
            "Check that the disk is connected and healthy, then try again."
        )
    return f"Your history ({path}) reported an error: {failure} ({error})."
