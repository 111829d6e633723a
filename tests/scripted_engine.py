"""A scripted stand-in for the engine client, for tests of the grounding job's planning.

Requests are numbered and remembered with the handler each was sent with; the test then feeds the
engine's events by hand, each to the handler of the request it names (as the real client routes them):
exact, instant and repeatable. The real engine process runs the same job in the integration and
window tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.chat.grounding_job import EarlyPerception, GroundingJob, JobUpdate
from assistant.host.client import Handler, Ticket
from assistant.host.messages import ChatRequest, Event, PerceiveRequest, Request, TranscribeRequest
from assistant.prompt.attachments import Attachment
from assistant.settings import Settings

KINDS = {ChatRequest: "chat", TranscribeRequest: "transcribe", PerceiveRequest: "perceive"}


class ScriptedClient:
    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []  # (kind, the request with its id)
        self.cancelled: list[int] = []
        self.handlers: dict[int, Handler] = {}

    def send(self, request: Request, on_event: Handler) -> Ticket:
        request = dataclasses.replace(request, request_id=len(self.requests) + 1)
        self.requests.append((KINDS[type(request)], request))
        self.handlers[request.request_id] = on_event
        return Ticket(request.request_id, self)  # type: ignore[arg-type]

    def cancel(self, request_id: int) -> None:
        self.cancelled.append(request_id)


class DrivenJob:
    """A job and its scripted client: `handle(event)` delivers the event to its request's handler and
    returns the update it caused (None when it caused none: no such request, or nothing changed)."""

    def __init__(self, job: GroundingJob, client: ScriptedClient, updates: list[JobUpdate]) -> None:
        self.job, self.client, self.updates = job, client, updates

    def start(self) -> JobUpdate:
        return self.job.start()

    def cancel(self) -> bool:
        return self.job.cancel()

    @property
    def waiting(self) -> bool:
        return self.job.waiting

    def handle(self, event: Event) -> JobUpdate | None:
        handler = self.client.handlers.get(event.request_id)
        if handler is None:
            return None
        before = len(self.updates)
        handler(event)
        return self.updates[-1] if len(self.updates) > before else None


def make_job(
    attachments: Sequence[Attachment],
    question: str = "",
    perceived: dict[int, EarlyPerception] | None = None,
    data_dir: Path = Path("/data"),
    **overrides: object,
) -> tuple[DrivenJob, ScriptedClient]:
    values: dict[str, object] = {"speech_model": "whisper-tiny.en", "system_prompt": "", "threads": 1}
    client = ScriptedClient()
    updates: list[JobUpdate] = []
    job = GroundingJob(client, Settings(**{**values, **overrides}), data_dir,  # type: ignore[arg-type]
                       attachments, question, perceived=perceived, on_update=updates.append)
    return DrivenJob(job, client, updates), client
