"""`bench vision --parts drop --after S`: the seconds between dropping an image and pressing Send.

What the window does meanwhile, replayed without Qt on the bench's own thread: the image is perceived
from the drop (`ui/attachment_questions.py`), and the user types the question at an even pace, its last
key at Send. With `prefill`, the window's `ui/typing_prefill.py` rule runs too: once the image is
read, the question typed so far is evaluated into the KV cache (at once when the reading ends with text
typed, else 500 ms after the last key), one prefill at a time, the newest text sent when the one in
flight ends; at Send the one still in flight is dropped. The prompts come from the same `GroundingJob`
and `ChatSession.prefill` as in the window.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from pathlib import Path

from assistant.chat.attachments import from_path
from assistant.chat.grounding_job import EarlyPerception, GroundingJob
from assistant.chat.session import ChatSession
from assistant.host.client import EngineClient
from assistant.host.messages import Done, Event, Failed, ImagePerceived

DEBOUNCE_S = 0.5  # ui/typing_prefill.DEBOUNCE_MS (not imported: that module needs Qt)


@dataclass
class Typed:
    """What happened before Send: the perception to hand to the job, and the prefills."""

    perceived: dict[int, EarlyPerception]
    prefills: int = 0
    in_flight: int | None = None  # the prefill still in the engine at Send (dropped there)
    prefilled: list[str] = field(default_factory=list)  # the typed text of each prefill
    read_s: float | None = None  # from the drop to the end of the image's reading (None: after Send)


def type_question(
    client: EngineClient,
    session: ChatSession,
    events: queue.Queue[Event],
    shot: Path,
    library: Path,
    question: str,
    send_at: float,
    *,
    prefill: bool,
) -> Typed:
    """From the drop until `send_at` (perf_counter): perceive `shot`, type `question`, maybe prefill."""
    started = time.perf_counter()
    request = client.perceive(str(shot), library, threads=session.settings.threads)
    found: ImagePerceived | None = None
    read = False  # the perceive request ended
    typed = ""
    pause_ends: float | None = None  # the debounce deadline after the last key
    due = False
    last_prompt = ""
    log = Typed({})
    attachment = from_path(shot)

    def key_time(index: int) -> float:  # the question's keys spread evenly, the last one at Send
        return started + (index + 1) * (send_at - started) / len(question)

    def prefill_now() -> None:
        nonlocal due, last_prompt
        if not prefill or not read or found is None or not typed.strip():
            return
        job = GroundingJob(client, session.settings, library, [attachment], typed,
                           perceived={0: EarlyPerception(found=found)})
        result = job.start().result  # the image is read: no engine request
        if result is None or result.prompt == last_prompt:
            return
        if log.in_flight is not None:
            due = True
            return
        log.in_flight = session.prefill(None, result.question, grounded=result)
        if log.in_flight is not None:
            last_prompt = result.prompt
            log.prefills += 1
            log.prefilled.append(typed)

    while True:
        now = time.perf_counter()
        if now >= send_at:
            break
        keys = sum(1 for index in range(len(question)) if key_time(index) <= now)
        if keys > len(typed):
            typed, pause_ends = question[:keys], now + DEBOUNCE_S
        if pause_ends is not None and now >= pause_ends:
            pause_ends = None
            prefill_now()
        upcoming = [send_at, *([pause_ends] if pause_ends else [])]
        if len(typed) < len(question):
            upcoming.append(key_time(len(typed)))
        try:
            event = events.get(timeout=max(0.0, min(upcoming) - time.perf_counter()))
        except queue.Empty:
            continue
        rid = getattr(event, "request_id", None)
        if rid == request and not read:
            if isinstance(event, ImagePerceived):
                found = event
            elif isinstance(event, Failed):
                raise RuntimeError(event.message)
            elif isinstance(event, Done):
                read, log.read_s = True, time.perf_counter() - started
                prefill_now()
        elif rid is not None and rid == log.in_flight and isinstance(event, (Done, Failed)):
            log.in_flight = None
            if due:
                due = False
                prefill_now()
    if not read:
        log.perceived = {0: EarlyPerception(request, found)}  # still reading: the job waits for it
    else:
        log.perceived = {0: EarlyPerception(found=found)}
    if log.in_flight is not None:
        client.drop(log.in_flight)  # as the window does at Send
    return log
