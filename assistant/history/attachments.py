"""A question's attachments and groundings in the history file (schema 2 tables), for `history.store`.

Rows are written in the caller's transaction (a question is never stored without what it was grounded
in) and read back per conversation. Fields only some grounding kinds have go in a JSON `details`
column, so a new kind needs no new column.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import PurePath

from assistant.images.kept import is_sha256
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding

logger = logging.getLogger(__name__)


def insert(
    conn: sqlite3.Connection,
    message_id: int,
    attachments: Sequence[Attachment],
    groundings: Sequence[Grounding],
) -> None:
    conn.executemany(
        "INSERT INTO attachments (message_id, position, kind, name, path, size) VALUES (?, ?, ?, ?, ?, ?)",
        [(message_id, i, a.kind, a.name, a.path, a.size) for i, a in enumerate(attachments)],
    )
    conn.executemany(
        "INSERT INTO groundings (message_id, position, kind, source, text, sent, details)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (message_id, i, g.kind, g.source, g.text, int(g.sent), json.dumps(_details(g), sort_keys=True))
            for i, g in enumerate(groundings)
        ],
    )


def attachments_of(conn: sqlite3.Connection, conversation_id: int) -> dict[int, list[Attachment]]:
    found: dict[int, list[Attachment]] = {}
    for message_id, kind, name, path, size in conn.execute(
        "SELECT a.message_id, a.kind, a.name, a.path, a.size FROM attachments AS a"
        " JOIN messages AS m ON m.id = a.message_id WHERE m.conversation_id = ?"
        " ORDER BY a.message_id, a.position",
        (conversation_id,),
    ):
        found.setdefault(message_id, []).append(Attachment(kind, path, name, size))
    return found


def groundings_of(conn: sqlite3.Connection, conversation_id: int) -> dict[int, list[Grounding]]:
    found: dict[int, list[Grounding]] = {}
    for message_id, kind, source, text, sent, details in conn.execute(
        "SELECT g.message_id, g.kind, g.source, g.text, g.sent, g.details FROM groundings AS g"
        " JOIN messages AS m ON m.id = g.message_id WHERE m.conversation_id = ?"
        " ORDER BY g.message_id, g.position",
        (conversation_id,),
    ):
        extra = _load_details(details, message_id)
        parts = extra.get("parts", 0)
        grounding = Grounding(
            kind,
            source,
            text,
            bool(sent),
            parts if isinstance(parts, int) else 0,
            labels=_labels(extra.get("labels")),
            guesses=_labels(extra.get("guesses")),
            confidence=_confidence(extra.get("ocr_confidence")),
            image=str(extra.get("image", "")),
            seen=extra.get("seen") is True,
            number=_int(extra.get("number")),
            locator=str(extra.get("locator", "")),
            path=str(extra.get("path", "")),
            page=_int(extra.get("page")),
        )
        found.setdefault(message_id, []).append(grounding)
    return found


def image_hashes(conn: sqlite3.Connection, conversation_id: int | None = None) -> set[str]:
    """The sha256 names of the kept images (`images.kept`) that messages refer to; all conversations'
    when `conversation_id` is None. A message refers to an image through its grounding's hash, or
    through an attachment file named by its hash (a pasted image, or a kept copy attached again)."""
    scope, params = ("m.conversation_id = ? AND ", (conversation_id,)) if conversation_id is not None \
        else ("", ())
    found: set[str] = set()
    for message_id, details in conn.execute(
        "SELECT g.message_id, g.details FROM groundings AS g JOIN messages AS m ON m.id = g.message_id"
        f" WHERE {scope}g.kind = 'image'",
        params,
    ):
        digest = _load_details(details, message_id).get("image")
        if isinstance(digest, str) and is_sha256(digest):
            found.add(digest)
    for (path,) in conn.execute(
        "SELECT a.path FROM attachments AS a JOIN messages AS m ON m.id = a.message_id"
        f" WHERE {scope}a.kind = 'image'",
        params,
    ):
        stem = PurePath(path).stem
        if is_sha256(stem):
            found.add(stem)
    return found


def _details(grounding: Grounding) -> dict:
    """Grounding fields that only some kinds have, kept as JSON so new kinds need no new columns."""
    details: dict = {"parts": grounding.parts} if grounding.parts else {}
    if grounding.labels:
        details["labels"] = [[label, probability] for label, probability in grounding.labels]
    if grounding.guesses:  # the ImageNet classifier's (engines/classifier.py)
        details["guesses"] = [[label, probability] for label, probability in grounding.guesses]
    if grounding.confidence is not None:
        details["ocr_confidence"] = grounding.confidence
    if grounding.image:
        details["image"] = grounding.image  # sha256: the kept copy and thumbnail (`images.kept`)
    if grounding.seen:
        details["seen"] = True
    if grounding.kind == "passage":  # its citation number and where it is, to open the file there
        details.update(number=grounding.number, locator=grounding.locator, path=grounding.path,
                       page=grounding.page)
    return details


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _confidence(value: object) -> float | None:
    """A stored OCR confidence; anything else (absent, hand-edited) is None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _labels(value: object) -> tuple[tuple[str, float], ...]:
    """Stored [label, probability] pairs; anything malformed (a hand-edited file) is skipped."""
    if not isinstance(value, list):
        return ()
    pairs = []
    for item in value:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], (int, float)):
            pairs.append((str(item[0]), float(item[1])))
    return tuple(pairs)




def _load_details(text: str, message_id: int) -> dict:
    """A damaged details field (a hand-edited file) must not hide the grounding itself."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        logger.warning("A grounding of message %d has unreadable details %r", message_id, text)
        return {}
    return value if isinstance(value, dict) else {}
