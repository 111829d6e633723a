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

import time
from dataclasses import dataclass, field
from pathlib import Path

from assistant.chat.grounding_job import EarlyPerception, GroundingJob
from assistant.chat.session import ChatSession
from assistant.host.client import EngineClient, Handler, Inbox, Ticket
from assistant.host.messages import Done, Event, Failed, ImagePerceived, PerceiveRequest, result_of
from assistant.prompt.attachments import from_path

DEBOUNCE_S = 0.5  # ui/typing_prefill.DEBOUNCE_MS (not imported: that module needs Qt)


@dataclass
class Typed:
    """What happened before Send: the perception to hand to the job, and the prefills."""

    perceived: dict[int, EarlyPerception]
    prefills: int = 0
    in_flight: Ticket | None = None  # the prefill still in the engine at Send (dropped there)
    in_flight_ended: float | None = None  # perf_counter when that prefill ended (maybe after Send)
    prefilled: list[str] = field(default_factory=list)  # the typed text of each prefill
    read_s: float | None = None  # from the drop to the end of the image's reading (None: after Send)


def type_question(
    client: EngineClient,
    session: ChatSession,
    inbox: Inbox,
    shot: Path,
    library: Path,
    question: str,
    send_at: float,
    *,
    prefill: bool,
) -> Typed:
    """From the drop until `send_at` (perf_counter): perceive `shot`, type `question`, maybe prefill.

    `client` delivers through `inbox`: every handler here runs on this thread while it pumps."""
    started = time.perf_counter()
    found: ImagePerceived | None = None
    read = False  # the perceive request ended
    follower: list[Handler] = []  # the job that takes the reading over after Send
    sent = False  # Send was pressed: nothing here acts on later events
    failed: list[str] = []  # the reading's error (raised here, not in a handler, which must not raise)
    typed = ""
    pause_ends: float | None = None  # the debounce deadline after the last key
    due = False
    last_prompt = ""
    log = Typed({})
    attachment = from_path(shot)

    def on_read(event: Event) -> None:  # the perceive request's handler
        nonlocal found, read
        found = result_of(event, ImagePerceived) or found
        if isinstance(event, Failed):
            failed.append(event.message)
        elif isinstance(event, Done):
            read, log.read_s = True, time.perf_counter() - started
            if not sent:
                prefill_now()
        if follower:
            follower[0](event)

    def on_prefill(ticket: list[Ticket], event: Event) -> None:  # one prefill's handler
        if not isinstance(event, (Done, Failed)) or not ticket or ticket[0] is not log.in_flight:
            return
        nonlocal due
        log.in_flight_ended = time.perf_counter()
        if sent:
            return  # dropped at Send
        log.in_flight = None
        if due:
            due = False
            prefill_now()

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
        holder: list[Ticket] = []
        log.in_flight = session.prefill(None, result.question, grounded=result,
                                        on_event=lambda event: on_prefill(holder, event))
        if log.in_flight is not None:
            holder.append(log.in_flight)
            last_prompt = result.prompt
            log.prefills += 1
            log.prefilled.append(typed)

    reading = client.send(PerceiveRequest(str(shot), str(library), session.settings.threads), on_read)
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
        inbox.pump(timeout=max(0.0, min(upcoming) - time.perf_counter()))
        if failed:
            raise RuntimeError(failed[0])
    if not read:  # still reading: the job waits for it, through `follow`
        log.perceived = {0: EarlyPerception(reading, found, follow=follower.append)}
    else:
        log.perceived = {0: EarlyPerception(found=found)}
    sent = True
    if log.in_flight is not None:
        log.in_flight.drop()  # as the window does at Send
    return log
