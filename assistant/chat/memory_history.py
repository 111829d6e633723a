"""A history that lives in memory: the session's store when there is no history file (CLI
`ask --no-save`, or a history that could not be opened — the window still answers)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from assistant.chat.attachments import Attachment
from assistant.chat.grounding import Grounding
from assistant.history.types import StoredMessage


class MemoryHistory:
    """The few Store methods a session needs, kept in memory (CLI `ask --no-save`)."""

    def __init__(self) -> None:
        self._conversations: dict[int, list[StoredMessage]] = {}
        self._next_id = 1

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def create_conversation(self, title: str = "New chat") -> int:
        conversation_id = self._new_id()
        self._conversations[conversation_id] = []
        return conversation_id

    def add_message(
        self,
        conversation_id: int,
        role: str,
        text: str,
        status: str = "complete",
        model: str | None = None,
        timings: dict | None = None,
        *,
        prompt: str | None = None,
        attachments: Sequence[Attachment] = (),
        groundings: Sequence[Grounding] = (),
    ) -> int:
        message = StoredMessage(
            self._new_id(),
            conversation_id,
            role,
            text,
            status,
            model,
            dict(timings or {}),
            time.time(),
            prompt=prompt,
            attachments=tuple(attachments),
            groundings=tuple(groundings),
        )
        self._conversations[conversation_id].append(message)
        return message.id

    def update_message(
        self,
        message_id: int,
        *,
        text: str | None = None,
        status: str | None = None,
        timings: dict | None = None,
        sampling: dict | None = None,
    ) -> None:
        for messages in self._conversations.values():
            for index, message in enumerate(messages):
                if message.id == message_id:
                    changes = {"text": text, "status": status, "timings": timings, "sampling": sampling}
                    messages[index] = dataclasses.replace(
                        message, **{k: v for k, v in changes.items() if v is not None}
                    )
                    return

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        return list(self._conversations.get(conversation_id, []))
