"""GUI-side handle on the engine process: sends requests, delivers events, restarts after a crash.

All events reach `on_event` from one dispatcher thread owned by the client. That thread is also the
only place that decides a request's terminal event, so a late Done from the child can never race with
a Done synthesised after a Stop timeout or a Failed synthesised after a crash: whichever comes first
wins and the rest are dropped.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from assistant.host.messages import (
    BenchmarkRequest,
    CancelRequest,
    ChatRequest,
    Done,
    EmbedTextRequest,
    EngineConfig,
    Event,
    Failed,
    IndexImagesRequest,
    LoadRequest,
    PerceiveRequest,
    PrepareRequest,
    Request,
    ShutdownRequest,
    SynthesizeRequest,
    TranscribeRequest,
)
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats, TranscriptionOptions

logger = logging.getLogger(__name__)

CRASH_MESSAGE = (
    "The engine stopped unexpectedly (exit code {code}). Your answer so far was kept; the engine "
    "will restart with your next question."
)


class _Child:
    """One engine process and the thread that reads its pipe."""

    def __init__(self, generation: int, process: Any, conn: Connection) -> None:
        self.generation = generation
        self.process = process
        self.conn = conn
        self.send_lock = threading.Lock()
        self.killed = False


class EngineClient:
    def __init__(self, on_event: Callable[[Event], None], *, stop_timeout_s: float = 2.0) -> None:
        self._on_event = on_event
        self._stop_timeout_s = stop_timeout_s
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.RLock()  # guards _child, _inflight, _dispatcher
        self._child: _Child | None = None
        self._generations = itertools.count(1)
        self._ids = itertools.count(1)
        self._inflight: dict[int, int] = {}  # request id -> generation of the child serving it
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self._closed = False

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
            if self._child is not None and self._child.process.is_alive() and not self._child.killed:
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

    def load(self, config: EngineConfig) -> int:
        request_id = next(self._ids)
        self._submit(LoadRequest(request_id, config), request_id)
        return request_id

    def chat(
        self,
        config: EngineConfig,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        images: Sequence[str] = (),
        earlier_images: tuple[tuple[int, tuple[str, ...]], ...] = (),
    ) -> int:
        """`images`: kept copies for a model that can see them (ignored by a text-only model);
        `earlier_images`: those of earlier user messages, by message index (`ChatRequest`)."""
        request_id = next(self._ids)
        request = ChatRequest(request_id, config, tuple(messages), options, images=tuple(images),
                              earlier_images=earlier_images)
        self._submit(request, request_id)
        return request_id

    def prefill(
        self, config: EngineConfig, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> int:
        """Put the prompt of a chat the caller expects to send into the KV cache. Events: Done/Failed."""
        request_id = next(self._ids)
        self._submit(ChatRequest(request_id, config, tuple(messages), options, prefill_only=True), request_id)
        return request_id

    def transcribe(
        self,
        model: str,
        data_dir: str | Path,
        options: TranscriptionOptions,
        audio_path: str | None = None,
        audio: Any | None = None,
        *,
        threads: int = 0,
    ) -> int:
        """Speech to text for a file (decoded in the engine) or numpy samples (16 kHz mono float32).

        Events: Progress, TranscriptionStarted, Transcript per segment, then Done or Failed.
        """
        if (audio_path is None) == (audio is None):
            raise ValueError("give exactly one of audio_path and audio")
        request_id = next(self._ids)
        request = TranscribeRequest(request_id, model, str(data_dir), audio_path, audio, options, threads)
        self._submit(request, request_id)
        return request_id

    def perceive(
        self, path: str, data_dir: str | Path, *, threads: int = 0, labels: bool = True
    ) -> int:
        """Look at an image file in the engine: decode it safely, keep a copy by hash, OCR, CLIP labels.

        Events: Progress (stage 'perceive': step done of total), ImagePerceived, then Done;
        or Failed with the image's problem in words.
        """
        request_id = next(self._ids)
        self._submit(PerceiveRequest(request_id, str(path), str(data_dir), threads, labels), request_id)
        return request_id

    def embed_text(self, text: str, data_dir: str | Path) -> int:
        """The installed CLIP model's embedding of a search text (the image library's search).

        Events: TextEmbedded, then Done; or Failed (no CLIP model, or a broken one) in words.
        """
        request_id = next(self._ids)
        self._submit(EmbedTextRequest(request_id, text, str(data_dir)), request_id)
        return request_id

    def benchmark(
        self,
        model: str,
        data_dir: str | Path,
        *,
        threads: int = 0,
        gpu_layers: int = -1,
        budget_s: float = 12.0,
    ) -> int:
        """Measure a chat model on this machine (`host/benchmark.py`); unloads the chat model.

        Events: Progress (assembly, 'load', 'benchmark'), ModelBenchmarked, then Done; or Failed.
        """
        request_id = next(self._ids)
        request = BenchmarkRequest(request_id, model, str(data_dir), threads, gpu_layers, budget_s=budget_s)
        self._submit(request, request_id)
        return request_id

    def prepare(self, model: str, data_dir: str | Path) -> int:
        """Assemble and verify a bundled model without loading it. Events: Progress, then Done or Failed."""
        request_id = next(self._ids)
        self._submit(PrepareRequest(request_id, model, str(data_dir)), request_id)
        return request_id

    def index_images(self, data_dir: str | Path, *, batch_size: int = 8) -> int:
        """Embed the image library's unindexed images with the installed CLIP model, a batch at a time.

        Events: Progress (stage 'index') per batch, then Done (stats.extra: indexed, skipped,
        remaining; remaining > 0 when it stepped aside for a queued request) or Failed in words.
        """
        request_id = next(self._ids)
        self._submit(IndexImagesRequest(request_id, str(data_dir), batch_size), request_id)
        return request_id

    def synthesize(self, voice: str, data_dir: str | Path, text: str, *, threads: int = 1) -> int:
        """Speak `text` with a Piper voice (catalogue name or file); served beside a streaming answer.

        Events: SpeechAudio (int16 samples) per chunk, then Done or Failed. Stop it with `drop`.
        """
        request_id = next(self._ids)
        self._submit(SynthesizeRequest(request_id, voice, str(data_dir), text, threads), request_id)
        return request_id

    def drop(self, request_id: int) -> None:
        """Cancel with no deadline: for speech, whose late end harms nothing.

        Unlike `cancel`, a child that does not confirm in time is not killed: the engine's loop may be
        inside a long prompt evaluation for the next question, which a dropped sentence must not end.
        """
        with self._lock:
            generation = self._inflight.get(request_id)
            child = self._child
        if generation is not None and child is not None and child.generation == generation:
            self._send(child, CancelRequest(request_id))

    def cancel(self, request_id: int) -> None:
        """Ask the child to stop; if it has not confirmed within stop_timeout_s it is killed."""
        with self._lock:
            generation = self._inflight.get(request_id)
            child = self._child
        if generation is None or child is None or child.generation != generation:
            return
        self._send(child, CancelRequest(request_id))
        # Timer thread -> dispatcher thread: the decision to kill is taken where terminals are decided.
        timer = threading.Timer(
            self._stop_timeout_s, self._queue.put, args=(("cancel_timeout", generation, request_id),)
        )
        timer.daemon = True
        timer.start()

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

    def _submit(self, request: Request, request_id: int) -> None:
        with self._lock:
            child = self._child
            if child is None or not child.process.is_alive() or child.killed:
                self.start()  # a crashed or killed engine restarts here, lazily
                child = self._child
            assert child is not None
            self._inflight[request_id] = child.generation
        self._send(child, request)

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
        child.process.join(1.0)
        self._queue.put(("died", child.generation, child.process.exitcode))
        child.conn.close()

    def _dispatch(self) -> None:
        """The one thread that calls on_event."""
        while True:
            item = self._queue.get()
            kind = item[0]
            if kind == "shutdown":
                self._finish_all(lambda rid: Done(rid, "stopped", GenerationStats()))
                return
            if kind == "event":
                self._deliver_event(item[2])
            elif kind == "died":
                generation, code = item[1], item[2]
                if self._closed:  # an orderly shutdown, not a crash
                    self._finish_all(lambda rid: Done(rid, "stopped", GenerationStats()), generation)
                else:
                    message = CRASH_MESSAGE.format(code=code)
                    self._finish_all(lambda rid, text=message: Failed(rid, text, kind="crashed"), generation)
            elif kind == "cancel_timeout":
                self._cancel_timed_out(item[1], item[2])

    def _deliver_event(self, event: Event) -> None:
        terminal = isinstance(event, (Done, Failed))
        with self._lock:
            if event.request_id not in self._inflight:
                return  # a late event for a request that already ended (stopped by timeout, crashed)
            if terminal:
                del self._inflight[event.request_id]
        self._call(event)

    def _cancel_timed_out(self, generation: int, request_id: int) -> None:
        with self._lock:
            if self._inflight.get(request_id) != generation:
                return  # the child confirmed in time
            del self._inflight[request_id]
            child = self._child
            if child is not None and child.generation == generation and child.process.is_alive():
                logger.warning("Engine did not stop request %d in time; killing it", request_id)
                child.killed = True
                child.process.kill()
        self._call(Done(request_id, "stopped", GenerationStats()))

    def _finish_all(self, make: Callable[[int], Event], generation: int | None = None) -> None:
        with self._lock:
            ended = [rid for rid, gen in self._inflight.items() if generation is None or gen == generation]
            for rid in ended:
                del self._inflight[rid]
        for rid in sorted(ended):
            self._call(make(rid))

    def _call(self, event: Event) -> None:
        try:
            self._on_event(event)
        except Exception:  # a faulty handler must not stop event delivery
            logger.exception("on_event handler failed for %s", type(event).__name__)
