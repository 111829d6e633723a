"""A blocking wrapper around EngineClient for the CLI and the benchmarks (no GUI event loop there)."""

from __future__ import annotations

import queue
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from assistant.host.client import EngineClient
from assistant.host.messages import Done, EngineConfig, Event, Failed, ModelLoaded
from assistant.protocols import ChatMessage, GenerationOptions, TranscriptionOptions


class BlockingEngine:
    """`with BlockingEngine() as engine: for event in engine.chat(...): ...` — one request at a time."""

    def __init__(self, *, stop_timeout_s: float = 2.0) -> None:
        self._events: queue.Queue[Event] = queue.Queue()
        # on_event runs on the client's dispatcher thread; the queue hands events to the caller's thread.
        self.client = EngineClient(self._events.put, stop_timeout_s=stop_timeout_s)

    def __enter__(self) -> BlockingEngine:
        self.client.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.shutdown()

    @property
    def engine_pid(self) -> int | None:
        return self.client.engine_pid

    def _until_terminal(self, request_id: int) -> Iterator[Event]:
        while True:
            event = self._events.get()
            if event.request_id != request_id:
                continue  # left over from an earlier request that was abandoned
            yield event
            if isinstance(event, (Done, Failed)):
                return

    def chat(
        self,
        config: EngineConfig,
        messages: Sequence[ChatMessage],
        options: GenerationOptions | None = None,
        images: Sequence[str] = (),
    ) -> Iterator[Event]:
        """Yield this request's events up to and including its Done or Failed.

        Leaving the loop early cancels the request and waits for its terminal event, so the next
        request starts clean.
        """
        request_id = self.client.chat(config, messages, options or GenerationOptions(), images)
        yield from self._stream(request_id)  # a generator: nothing is sent until the first next()

    def transcribe(
        self,
        model: str,
        data_dir: str | Path,
        options: TranscriptionOptions | None = None,
        audio_path: str | None = None,
        audio: Any | None = None,
        *,
        threads: int = 0,
    ) -> Iterator[Event]:
        """Yield Progress, TranscriptionStarted and Transcript events, then the Done or Failed.

        Like `chat`, leaving the loop early cancels the request and waits for its terminal event.
        """
        options = options or TranscriptionOptions()
        request_id = self.client.transcribe(model, data_dir, options, audio_path, audio, threads=threads)
        yield from self._stream(request_id)  # a generator: nothing is sent until the first next()

    def perceive(
        self, path: str, data_dir: str | Path, *, threads: int = 0, labels: bool = True
    ) -> Iterator[Event]:
        """Yield Progress and ImagePerceived events, then the Done or Failed (see EngineClient.perceive)."""
        request_id = self.client.perceive(path, data_dir, threads=threads, labels=labels)
        yield from self._stream(request_id)

    def embed_text(self, text: str, data_dir: str | Path) -> Iterator[Event]:
        """Yield the TextEmbedded event, then the Done or Failed (see EngineClient.embed_text)."""
        request_id = self.client.embed_text(text, data_dir)
        yield from self._stream(request_id)

    def index_images(self, data_dir: str | Path, *, batch_size: int = 8) -> Iterator[Event]:
        """Yield Progress events, then the Done or Failed (see EngineClient.index_images)."""
        request_id = self.client.index_images(data_dir, batch_size=batch_size)
        yield from self._stream(request_id)

    def _stream(self, request_id: int) -> Iterator[Event]:
        finished = False
        try:
            for event in self._until_terminal(request_id):
                finished = isinstance(event, (Done, Failed))
                yield event
        finally:
            if not finished:
                self.client.cancel(request_id)
                for _event in self._until_terminal(request_id):
                    pass

    def load(self, config: EngineConfig) -> ModelLoaded | Failed:
        """Load the model now; returns ModelLoaded (seconds == 0 when it was loaded already) or Failed."""
        request_id = self.client.load(config)
        loaded: ModelLoaded | None = None
        for event in self._until_terminal(request_id):
            if isinstance(event, ModelLoaded):
                loaded = event
            elif isinstance(event, Failed):
                return event
        if loaded is None:  # cannot happen with this engine; keep the return type honest anyway
            return Failed(request_id, "The engine finished loading without reporting a model.")
        return loaded
