"""GUI-side handle on the engine process: sends requests, routes each event to the request that asked,
restarts the engine after a crash.

`send(request, on_event)` binds a handler to the request (the way Anki binds success and failure
callbacks to a collection operation): every event of that request, and only those, reaches that handler,
and nobody filters a broadcast by request id. One dispatcher thread owned by the client decides each
request's terminal event, so a late Done from the child can never race with a Done synthesised after a
Stop timeout or a Failed synthesised after a crash: whichever comes first wins and the rest are dropped.

Where a handler runs is the client's `deliver` choice: by default on the dispatcher thread; the window
passes `EngineBridge.deliver` (handlers run on the GUI thread) and the CLI an `Inbox` (handlers run on the
thread that pumps it). `stream()` is the blocking form for scripts and benchmarks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from assistant.host.messages import (
    CancelRequest,
    Done,
    EngineConfig,
    Event,
    Failed,
    LoadRequest,
    ModelLoaded,
    Request,
    ShutdownRequest,
)
from assistant.protocols import GenerationStats

logger = logging.getLogger(__name__)

CRASH_MESSAGE = (
    "The engine stopped unexpectedly ({how}). Your answer so far was kept; the engine "
    "will restart with your next question."
)
# What the engine was doing when it died, by request type, for everything but an answer: a failed model
# load or image read must not claim that an answer was kept.
CRASH_WHILE = {
    "LoadRequest": "while loading {model}. If it happens again, the model file may be damaged",
    "PerceiveRequest": "while reading {path}",
    "TranscribeRequest": "while transcribing {path}",
    "ReadDocumentRequest": "while reading {path}",
    "IndexDocumentsRequest": "while indexing your documents; the file it was reading will be skipped",
    "SearchDocumentsRequest": "while searching your documents",
    "IndexImagesRequest": "while indexing your images",
    "BenchmarkRequest": "while measuring a model",
    "PrepareRequest": "while preparing a model",
}

Handler = Callable[[Event], None]
# Called on the dispatcher thread with a request's handler and one of its events; decides where the
# handler runs (directly, queued to the GUI thread, or queued to the CLI's main thread).
Deliver = Callable[[Handler, Event], None]


def crash_message(request: Request | None, code: int | None) -> str:
    """What the user reads when the engine process died under `request` (exit `code`, negative: the
    signal that ended it)."""
    how = f"exit code {code}"
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):  # a signal number this platform does not name
            how += f", {signal.Signals(-code).name}"
    kind = type(request).__name__
    if kind not in CRASH_WHILE:
        return CRASH_MESSAGE.format(how=how)
    config = getattr(request, "config", None)
    model = Path(config.model).name if config is not None and config.model else "the model"
    path = getattr(request, "path", None) or getattr(request, "audio_path", None)
    while_ = CRASH_WHILE[kind].format(model=model, path=Path(path).name if path else "the recording")
    return f"The engine stopped unexpectedly ({how}) {while_}. It will restart with your next request."


def deliver_here(handler: Handler, event: Event) -> None:
    handler(event)


def is_terminal(event: Event) -> bool:
    return isinstance(event, (Done, Failed))


@dataclass(frozen=True)
class Ticket:
    """A request in flight: what its sender keeps to stop it (the events go to its handler)."""

    request_id: int
    client: EngineClient = dataclasses.field(repr=False, compare=False)

    def cancel(self) -> None:
        """Stop it; a child that does not confirm within the client's stop timeout is killed."""
        self.client.cancel(self.request_id)

    def drop(self) -> None:
        """Stop it with no kill deadline (speech, a prefill): a late end harms nothing."""
        self.client.drop(self.request_id)


class _Child:
    """One engine process and the thread that reads its pipe."""

    def __init__(self, generation: int, process: Any, conn: Connection) -> None:
        self.generation = generation
        self.process = process
        self.conn = conn
        self.send_lock = threading.Lock()
        self.killed = False
        self.gone = False  # its pipe closed: nothing sent to it can be answered any more

    def usable(self) -> bool:
        return not self.killed and not self.gone and self.process.is_alive()


@dataclass
class _InFlight:
    generation: int  # of the child serving it
    handler: Handler
    direct: bool  # called on the dispatcher thread whatever `deliver` says (`stream`)
    request: Request | None = None  # what it asked for: a crash message says what the engine was doing


class EngineClient:
    def __init__(self, deliver: Deliver = deliver_here, *, stop_timeout_s: float = 2.0) -> None:
        self._deliver = deliver
        self._stop_timeout_s = stop_timeout_s
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.RLock()  # guards _child, _inflight, _dispatcher
        self._child: _Child | None = None
        self._generations = itertools.count(1)
        self._ids = itertools.count(1)
        self._inflight: dict[int, _InFlight] = {}
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self._closed = False

    def __enter__(self) -> EngineClient:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    # ---- public API ------------------------------------------------------------------------------

    @property
    def engine_pid(self) -> int | None:
        with self._lock:
            child = self._child
            return child.process.pid if child is not None and child.process.is_alive() else None

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._inflight)

    def start(self) -> None:
        """Spawn the engine process unless one is running."""
        with self._lock:
            if self._closed:
                raise RuntimeError("EngineClient is shut down")
            self._ensure_dispatcher()
            if self._child is not None and self._child.usable():
                return
            parent_conn, child_conn = self._context.Pipe(duplex=True)
            from assistant.host.process import run_child

            process = self._context.Process(
                target=run_child,
                args=(child_conn, logging.getLogger().getEffectiveLevel()),
                name="assistant-engine",
                daemon=True,
            )
            process.start()
            child_conn.close()  # only the child holds its end now, so its death gives us EOF
            child = _Child(next(self._generations), process, parent_conn)
            self._child = child
            logger.info("Started engine process %d (generation %d)", process.pid, child.generation)
            threading.Thread(
                target=self._read, args=(child,), name=f"engine-reader-{child.generation}", daemon=True
            ).start()

    def send(self, request: Request, on_event: Handler) -> Ticket:
        """Send `request` (its request_id is assigned here); every event of it goes to `on_event`,
        through this client's `deliver`, ending with exactly one Done or Failed."""
        return self._submit(request, on_event, direct=False)

    def stream(self, request: Request) -> Iterator[Event]:
        """Blocking: yield the request's events up to and including its Done or Failed.

        A generator: nothing is sent until the first next(). Leaving the loop early cancels the
        request and waits for its terminal event, so the next request starts clean.
        """
        events: queue.Queue[Event] = queue.Queue()
        ticket = self._submit(request, events.put, direct=True)  # put from the dispatcher thread
        finished = False
        try:
            while not finished:
                event = events.get()
                finished = is_terminal(event)
                yield event
        finally:
            if not finished:
                ticket.cancel()
                while not is_terminal(events.get()):
                    pass

    def cancel(self, request_id: int) -> None:
        """Ask the child to stop; if it has not confirmed within stop_timeout_s it is killed."""
        with self._lock:
            inflight = self._inflight.get(request_id)
            child = self._child
        if inflight is None or child is None or child.generation != inflight.generation:
            return
        generation = inflight.generation
        self._send(child, CancelRequest(request_id))
        # Timer thread -> dispatcher thread: the decision to kill is taken where terminals are decided.
        timer = threading.Timer(
            self._stop_timeout_s, self._queue.put, args=(("cancel_timeout", generation, request_id),)
        )
        timer.daemon = True
        timer.start()

    def drop(self, request_id: int) -> None:
        """Cancel with no deadline: for speech and prefills, whose late end harms nothing.

        Unlike `cancel`, a child that does not confirm in time is not killed: the engine's loop may be
        inside a long prompt evaluation for the next question, which a dropped sentence must not end.
        """
        with self._lock:
            inflight = self._inflight.get(request_id)
            child = self._child
        if inflight is not None and child is not None and child.generation == inflight.generation:
            self._send(child, CancelRequest(request_id))

    def kill_engine(self) -> None:
        with self._lock:
            child = self._child
        if child is not None and child.process.is_alive():
            logger.warning("Killing engine process %d", child.process.pid)
            child.killed = True  # the next request starts a new child even if this one is still dying
            child.process.kill()

    def shutdown(self, timeout_s: float = 2.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            child, dispatcher = self._child, self._dispatcher
        if child is not None:
            if child.process.is_alive() and not child.killed:
                self._send(child, ShutdownRequest())
            child.process.join(timeout_s)
            if child.process.is_alive():
                child.process.kill()
                child.process.join(timeout_s)
        if dispatcher is not None:
            self._queue.put(("shutdown",))
            if dispatcher is not threading.current_thread():
                dispatcher.join(timeout_s)

    # ---- internals -------------------------------------------------------------------------------

    def _submit(self, request: Request, on_event: Handler, *, direct: bool) -> Ticket:
        request_id = next(self._ids)
        request = dataclasses.replace(request, request_id=request_id)
        with self._lock:
            child = self._child
            if child is None or not child.usable():
                self.start()  # a crashed or killed engine restarts here, lazily
                child = self._child
            assert child is not None
            self._inflight[request_id] = _InFlight(child.generation, on_event, direct, request)
        self._send(child, request)
        return Ticket(request_id, self)

    def _send(self, child: _Child, request: Request) -> None:
        try:
            with child.send_lock:
                child.conn.send(request)  # crosses the process boundary to the engine process
        except (OSError, ValueError) as error:
            # The reader thread sees the same death and reports the crash for in-flight requests.
            logger.warning("Could not send %s to the engine: %s", type(request).__name__, error)

    def _ensure_dispatcher(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch, name="engine-events", daemon=True)
            self._dispatcher.start()

    def _read(self, child: _Child) -> None:
        """Reader thread for one child: pipe -> queue (dispatcher thread)."""
        while True:
            try:
                event = child.conn.recv()
            except (EOFError, OSError):
                break
            self._queue.put(("event", child.generation, event))
        # From now on a request goes to a new child: one sent to this one (closing its pipe, not yet
        # exited) would otherwise wait for a "died" that was already handled.
        child.gone = True
        child.process.join(1.0)
        self._queue.put(("died", child.generation, child.process.exitcode))
        child.conn.close()

    def _dispatch(self) -> None:
        """The one thread that routes events to their requests' handlers."""
        while True:
            item = self._queue.get()
            kind = item[0]
            if kind == "shutdown":
                self._finish_all(lambda rid, _r: Done(rid, "stopped", GenerationStats()))
                return
            if kind == "event":
                self._route(item[2])
            elif kind == "died":
                generation, code = item[1], item[2]
                if self._closed:  # an orderly shutdown, not a crash
                    self._finish_all(lambda rid, _r: Done(rid, "stopped", GenerationStats()), generation)
                else:
                    self._finish_all(lambda rid, request, code=code: Failed(rid, crash_message(request, code),
                                                                             kind="crashed"), generation)
            elif kind == "cancel_timeout":
                self._cancel_timed_out(item[1], item[2])

    def _route(self, event: Event) -> None:
        with self._lock:
            inflight = self._inflight.get(event.request_id)
            if inflight is None:
                return  # a late event for a request that already ended (stopped by timeout, crashed)
            if is_terminal(event):
                del self._inflight[event.request_id]
        self._call(inflight, event)

    def _cancel_timed_out(self, generation: int, request_id: int) -> None:
        with self._lock:
            inflight = self._inflight.get(request_id)
            if inflight is None or inflight.generation != generation:
                return  # the child confirmed in time
            del self._inflight[request_id]
            child = self._child
            if child is not None and child.generation == generation and child.process.is_alive():
                logger.warning("Engine did not stop request %d in time; killing it", request_id)
                child.killed = True
                child.process.kill()
        self._call(inflight, Done(request_id, "stopped", GenerationStats()))

    def _finish_all(self, make: Callable[[int, Request | None], Event], generation: int | None = None
                    ) -> None:
        with self._lock:
            ended = {rid: inflight for rid, inflight in self._inflight.items()
                     if generation is None or inflight.generation == generation}
            for rid in ended:
                del self._inflight[rid]
        for rid in sorted(ended):
            self._call(ended[rid], make(rid, ended[rid].request))

    def _call(self, inflight: _InFlight, event: Event) -> None:
        try:
            if inflight.direct:
                inflight.handler(event)
            else:
                self._deliver(inflight.handler, event)
        except Exception:  # a faulty handler must not stop event delivery
            logger.exception("Event handler failed for %s", type(event).__name__)


class Inbox:
    """Runs request handlers on the thread that pumps it (the CLI's main thread), in arrival order.

    Pass `inbox.deliver` to the EngineClient; then `pump_until(done)` on the main thread. The history
    store and the session are then only ever touched from that thread, as in the window.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Handler, Event]] = queue.Queue()

    def deliver(self, handler: Handler, event: Event) -> None:
        self._queue.put((handler, event))  # dispatcher thread -> the pumping thread

    def pump(self, timeout: float | None = None) -> bool:
        """Run the next handler, waiting at most `timeout` seconds for one; False when none came."""
        try:
            handler, event = self._queue.get(timeout=timeout)
        except queue.Empty:
            return False
        try:
            handler(event)
        except Exception:  # as in the window: a faulty handler must not stop event delivery
            logger.exception("Event handler failed for %s", type(event).__name__)
        return True

    def pump_until(self, done: Callable[[], bool], on_interrupt: Callable[[], None] | None = None) -> None:
        """Run handlers as their events arrive until `done()`; Ctrl+C calls `on_interrupt` (Stop) once
        and keeps pumping, so the request's terminal event still arrives and is handled."""
        interrupted = False
        while not done():
            try:
                self.pump()
            except KeyboardInterrupt:
                if on_interrupt is not None and not interrupted:
                    interrupted = True
                    on_interrupt()


def load_model(client: EngineClient, config: EngineConfig) -> ModelLoaded | Failed:
    """Blocking: load the chat model now; ModelLoaded (seconds == 0 when it was loaded already) or Failed."""
    loaded: ModelLoaded | None = None
    for event in client.stream(LoadRequest(config)):
        if isinstance(event, ModelLoaded):
            loaded = event
        elif isinstance(event, Failed):
            return event
    if loaded is None:  # cannot happen with this engine; keep the return type honest anyway
        return Failed(0, "The engine finished loading without reporting a model.")
    return loaded
