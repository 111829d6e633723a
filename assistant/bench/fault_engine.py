"""Run one request of a fault sweep through the real engine process and say what became of it.

Every case must end in a message: a Done (the file was fine after all) or a Failed whose text a user can
act on. The engine may die on a hostile file (the client then answers Failed(kind="crashed") and the next
request starts a fresh engine), but it may not hang: a case with no terminal event within its limit is
cancelled (the client kills an engine that does not confirm) and counted as a failure.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from assistant.host.client import EngineClient, is_terminal
from assistant.host.messages import Done, Event, Failed, Request

logger = logging.getLogger(__name__)

Ending = Literal["done", "failed", "crashed", "hung"]
# How the engine words an exception no handler expected (host/process.py): a bug, whatever it says.
UNEXPECTED = "The engine could not answer ("


@dataclass
class Outcome:
    ending: Ending
    message: str = ""  # the Failed's text ("" for a Done)
    status: str = ""  # the Done's status
    events: list[Event] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def result(self) -> object:
        last = self.events[-1] if self.events else None
        return last.result if isinstance(last, Done) else None


def run(client: EngineClient, request: Request, limit_s: float) -> Outcome:
    """Send `request`, wait for its end (at most `limit_s`, then Stop and wait for the stop)."""
    events: queue.Queue[Event] = queue.Queue()
    started = time.perf_counter()
    ticket = client.send(request, events.put)
    seen: list[Event] = []
    hung = False
    deadline = started + limit_s
    while True:
        try:
            event = events.get(timeout=max(0.05, deadline - time.perf_counter()) if not hung else 30.0)
        except queue.Empty:
            if hung:  # the client's stop timeout kills the engine; its Done must have come by now
                return Outcome("hung", "no end even after Stop", events=seen,
                               seconds=time.perf_counter() - started)
            hung = True
            logger.warning("%s did not end in %.0f s; stopping it", type(request).__name__, limit_s)
            ticket.cancel()
            continue
        seen.append(event)
        if is_terminal(event):
            break
    seconds = time.perf_counter() - started
    if hung:
        return Outcome("hung", f"no end within {limit_s:.0f} s", events=seen, seconds=seconds)
    if isinstance(event, Failed):
        ending: Ending = "crashed" if event.kind == "crashed" else "failed"
        return Outcome(ending, event.message, events=seen, seconds=seconds)
    assert isinstance(event, Done)
    return Outcome("done", status=event.status, events=seen, seconds=seconds)


def says_what(message: str, *words: str) -> bool:
    """A message a user can act on: a sentence, naming the file (or what failed) by one of `words`."""
    text = message.strip()
    return len(text) >= 20 and (not words or any(w and w in text for w in words))


@dataclass
class Tally:
    """Counts per ending, plus the first few failures in words."""

    runs: int = 0
    failures: int = 0
    endings: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    engine_deaths: int = 0
    cases: list[tuple[str, str, str]] = field(default_factory=list)  # (case, ending, message): for -v

    def add(self, ending: str, failure: str | None = None, case: str = "", message: str = "") -> None:
        self.runs += 1
        self.cases.append((case, ending, message))
        self.endings[ending] = self.endings.get(ending, 0) + 1
        if failure is not None:
            self.failures += 1
            if len(self.notes) < 8:
                self.notes.append(failure)

    def summary(self, labels: dict[str, str] | None = None) -> str:
        labels = labels or {}
        ordered = sorted(self.endings.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{n} {labels.get(k, k)}" for k, n in ordered)


def judge(outcome: Outcome, case: str, names: tuple[str, ...], tally: Tally,
          accept_done: Callable[[Outcome], bool] = lambda _o: True) -> None:
    """Count one case: a Done that `accept_done` likes, or a Failed/crash with a message, else a failure."""
    said = outcome.message
    if outcome.ending == "hung":
        tally.add("hung", f"{case}: {outcome.message}", case, said)
    elif outcome.ending == "done":
        if outcome.status != "complete":
            tally.add("stopped", f"{case}: ended '{outcome.status}' without being stopped", case, said)
        elif not accept_done(outcome):
            tally.add("accepted", f"{case}: accepted, but should have been refused", case, said)
        else:
            tally.add("accepted", None, case, said)
    elif outcome.ending == "crashed":
        tally.engine_deaths += 1
        ok = says_what(outcome.message)
        tally.add("engine died (restarted)", None if ok else f"{case}: crash without a message", case, said)
    elif outcome.message.startswith(UNEXPECTED):
        failure = f"{case}: an exception escaped in the engine: {said[:200]!r}"
        tally.add("unexpected error", failure, case, said)
    elif says_what(outcome.message, *names):
        tally.add("refused with a message", None, case, said)
    else:
        tally.add("refused", f"{case}: unclear message {outcome.message!r}", case, said)
