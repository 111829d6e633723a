"""Export one conversation as Markdown (for reading) or JSON (for other programs).

JSON layout, version 1 (fields are only ever added, never renamed or removed, within a version)::

    {
      "format": "assistant-conversation",
      "version": 1,
      "conversation": {"id", "title", "created_at", "updated_at", "message_count"},
      "messages": [{"id", "role", "text", "status", "model", "timings", "created_at",
                    "attachments", "grounding", "prompt", "sampling"}, ...]
    }

Timestamps are ISO 8601 in UTC with an explicit offset ("2024-05-01T12:00:00.000+00:00"); `model` may be
null; `timings` is the dict the app stored (e.g. token counts and seconds), `{}` when there is none;
`status` is one of `history.store.MESSAGE_STATUSES`. Added later in version 1: `attachments` is a list
of {"kind", "name", "size"} (the local path is left out: exports get shared); `grounding` is a list of
{"kind", "source", "text", "sent", "parts"}, what the model was told about them (a transcript with
timestamps, part summaries; a document passage adds its citation "number" and "locator", e.g.
"page 3"); `prompt` is the exact user message the model got when it differs from `text`, else null;
`sampling` is what an answer was sampled with ({"temperature", "top_k", "top_p", "min_p",
"repeat_penalty", "seed", "task", "reason"}), null for questions and for answers written before it was
recorded.

Files are written atomically, so a failed export never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from assistant.history.sampling_record import details as sampling_details
from assistant.history.store import ConversationSummary, Store, StoredMessage, StoreError
from assistant.settings import write_atomically

logger = logging.getLogger(__name__)

JSON_FORMAT = "assistant-conversation"
JSON_VERSION = 1
_ROLE_HEADINGS = {"user": "You", "assistant": "Assistant", "system": "System"}
# What a reader of the Markdown needs to know about an answer that did not finish normally.
_STATUS_NOTES = {
    "streaming": "still being written when exported",
    "stopped": "stopped before it finished",
    "interrupted": "interrupted: the app closed before it finished",
    "failed": "failed",
}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds")


def to_json(summary: ConversationSummary, messages: list[StoredMessage]) -> str:
    """The documented, stable JSON layout (see the module docstring), pretty-printed, UTF-8 friendly."""
    document = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "conversation": {
            "id": summary.id,
            "title": summary.title,
            "created_at": _iso(summary.created_at),
            "updated_at": _iso(summary.updated_at),
            "message_count": len(messages),
        },
        "messages": [
            {
                "id": message.id,
                "role": message.role,
                "text": message.text,
                "status": message.status,
                "model": message.model,
                "timings": message.timings,
                "created_at": _iso(message.created_at),
                "attachments": [
                    {"kind": a.kind, "name": a.name, "size": a.size} for a in message.attachments
                ],
                "grounding": [
                    {"kind": g.kind, "source": g.source, "text": g.text, "sent": g.sent, "parts": g.parts}
                    | ({"labels": [list(pair) for pair in g.labels]} if g.labels else {})
                    | ({"guesses": [list(pair) for pair in g.guesses]} if g.guesses else {})
                    | ({"number": g.number, "locator": g.locator} if g.kind == "passage" else {})
                    for g in message.groundings
                ],
                "prompt": message.prompt,
                "sampling": message.sampling,
            }
            for message in messages
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def to_markdown(
    summary: ConversationSummary, messages: list[StoredMessage], *, tz: tzinfo | None = None
) -> str:
    """A readable transcript; message text is already Markdown and is kept as is.

    Times are shown in `tz`, the computer's local time zone when None (that is what the reader expects).
    """

    def when(timestamp: float) -> str:
        moment = datetime.fromtimestamp(timestamp, tz=UTC).astimezone(tz)
        return moment.strftime("%Y-%m-%d %H:%M")

    count = f"{len(messages)} message" + ("" if len(messages) == 1 else "s")
    lines = [f"# {summary.title}", "", f"_Started {when(summary.created_at)}, {count}._", ""]
    for message in messages:
        heading = _ROLE_HEADINGS.get(message.role, message.role.capitalize())
        details = [when(message.created_at)]
        if message.model:
            details.append(message.model)
        lines += [f"## {heading} ({', '.join(details)})", ""]
        if message.attachments:
            names = ", ".join(f"{a.name} ({a.kind_name})" for a in message.attachments)
            lines += [f"_Attached: {names}_", ""]
        lines += [message.text.rstrip("\n"), ""]
        if message.sampling:
            lines += [f"_Sampling: {sampling_details(message.sampling)}_", ""]
        lines += _grounding_markdown(message)
        note = _STATUS_NOTES.get(message.status)
        if note:
            lines += [f"_({note})_", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _grounding_markdown(message: StoredMessage) -> list[str]:
    """A folded "What the model was told" section (GitHub and most viewers honour <details>)."""
    if not message.groundings:
        return []
    lines = ["<details><summary>What the model was told</summary>", ""]
    for grounding in message.groundings:
        shown = grounding.shown_text()  # an image's labels too, not only its text
        fence = "```"
        while fence in shown:  # a transcript that contains backticks must not end the block
            fence += "`"
        lines += [f"**{grounding.heading()}**", "", f"{fence}text", shown.rstrip("\n"), fence, ""]
    return [*lines, "</details>", ""]


def export_conversation(store: Store, conversation_id: int, path: Path) -> None:
    """Write the chat to `path`, Markdown for .md/.markdown and JSON for .json, atomically.

    Raises StoreError with a message for the user when the file name or the write is not possible.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".md", ".markdown", ".json"):
        raise StoreError(f"Cannot export to {path.name!r}: choose a file name ending in .md or .json.")
    summary = store.get_conversation(conversation_id)
    messages = store.messages(conversation_id)
    text = to_json(summary, messages) if suffix == ".json" else to_markdown(summary, messages)
    try:
        write_atomically(path, text)
    except OSError as exc:
        logger.warning("Export of chat %d to %s failed: %r", conversation_id, path, exc)
        reason = exc.strerror or str(exc)
        raise StoreError(
            f"The chat could not be exported to {path}: {reason}. Choose another place."
        ) from exc
    logger.info("Exported chat %d to %s", conversation_id, path)
