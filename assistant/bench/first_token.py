"""The answer listener the latency benchmarks give `ChatSession.send`: when the first token came, the
last update, and a failure's message. Imported inside the benchmarks' functions, as the chat code is."""

from __future__ import annotations

import time

from assistant.chat.session import TurnUpdate
from assistant.host.messages import Event, Failed, Token


class FirstToken:
    def __init__(self) -> None:
        self.at: float | None = None  # time.perf_counter() of the first token
        self.error: str | None = None
        self.finished: TurnUpdate | None = None

    def __call__(self, event: Event, update: TurnUpdate | None) -> None:
        if isinstance(event, Failed):
            self.error = event.message
        if isinstance(event, Token) and self.at is None:
            self.at = time.perf_counter()
        if update is not None and update.finished:
            self.finished = update
