"""The engine process: owns the loaded model and serves requests that arrive over a pipe.

It runs in a child process (multiprocessing 'spawn') so that a crash, an out-of-memory or a prompt
evaluation that will not stop never takes the window down. Every request gets exactly one terminal
event (Done or Failed); any exception becomes a Failed with a user-facing message and the loop goes on.
Nothing here imports an ML library at module level: the GUI process imports this module only to name
`run_child` as the spawn target.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path

from assistant import network_audit
from assistant.audio.errors import AudioError, LanguageError
from assistant.host import benchmark
from assistant.host.chat_models import load_chat_model
from assistant.host.documents import DocumentService
from assistant.host.indexing import ImageIndexing
from assistant.host.messages import (
    BenchmarkRequest,
    CancelRequest,
    ChatRequest,
    Done,
    EmbedTextRequest,
    EngineConfig,
    Event,
    Failed,
    IndexDocumentsRequest,
    IndexImagesRequest,
    LoadRequest,
    ModelLoaded,
    PerceiveRequest,
    PrepareRequest,
    Progress,
    ReadDocumentRequest,
    Request,
    SearchDocumentsRequest,
    ShutdownRequest,
    SynthesizeRequest,
    Token,
    TranscribeRequest,
)
from assistant.host.perception import Perception
from assistant.host.speech import SpeechWorker
from assistant.host.transcription import Transcription
from assistant.images import kept
from assistant.images.errors import ImageError
from assistant.models import catalog, gguf
from assistant.models.remote_server import RemoteError
from assistant.prompt.conversation import PromptTooLong
from assistant.protocols import ChatMessage, ChatModel, GenerationStats, StopCheck

logger = logging.getLogger(__name__)

# Nothing in the engine process may try the network: libraries that know these variables stay offline.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


class _Stop(Exception):
    """The current request was cancelled (or the process is shutting down) while preparing it."""


class _ParentGone(Exception):
    """The GUI end of the pipe is closed: nobody is listening, so the process exits."""


def run_child(conn: Connection, log_level: int = logging.WARNING) -> None:
    """Entry point of the engine process (the spawn target); logs at the GUI process's level."""
    os.environ.update(OFFLINE_ENV)
    network_audit.install_from_env()  # `selftest` and the offline tests count network attempts here too
    logging.basicConfig(
        stream=sys.stderr,
        level=log_level,
        format="%(asctime)s %(processName)s %(name)s %(levelname)s: %(message)s",
    )
    serve(conn)


def serve(conn: Connection) -> None:
    """Serve requests until ShutdownRequest or the pipe closes."""
    _Server(conn).run()


class _Server:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pending: deque[Request] = deque()  # requests that arrived while another one was running
        self.model: ChatModel | None = None
        self.config: EngineConfig | None = None
        self.closing = False
        # The speech thread sends too (SpeechAudio while tokens stream): one sender at a time.
        self.send_lock = threading.Lock()
        # Spoken replies run beside the serial loop, or they would wait for the answer they speak.
        self.voice = SpeechWorker(self.send)
        # Images: OCR (and CLIP) models load on the first image and stay next to the chat model.
        self.perception = Perception(self.send, self.check_cancel)
        # Whisper models, one per name, kept next to the chat model too (host/transcription.py).
        self.transcription = Transcription(self.send, self.check_cancel, self.assembly_progress)
        # The library's unindexed images, a batch at a time; steps aside when a request is queued.
        self.indexing = ImageIndexing(self.send, self.check_cancel, lambda: bool(self.pending),
                                      self.perception.clip_model)
        # Your documents: indexing (steps aside like image indexing), search, an attached document.
        self.documents = DocumentService(self.send, self.check_cancel, lambda: bool(self.pending),
                                         self.perception.text_reader)

    # ---- pipe ------------------------------------------------------------------------------------

    def send(self, event: Event) -> None:
        try:
            with self.send_lock:
                self.conn.send(event)  # crosses the process boundary to the GUI's reader thread
        except (OSError, ValueError) as error:
            self.closing = True
            raise _ParentGone() from error

    def receive(self) -> Request | None:
        if self.pending:
            return self.pending.popleft()
        try:
            return self.conn.recv()  # blocks until the GUI process sends a request
        except (EOFError, OSError):
            return None

    def check_cancel(self, request_id: int) -> bool:
        """Read whatever arrived meanwhile; True if `request_id` should stop now.

        Other requests are queued, not dropped; a cancel for a queued request answers it right away.
        """
        while True:
            try:
                if not self.conn.poll():
                    return False
                message = self.conn.recv()
            except (EOFError, OSError):
                self.closing = True
                return True
            if isinstance(message, ShutdownRequest):
                self.closing = True
                return True
            if isinstance(message, CancelRequest):
                if message.request_id == request_id:
                    return True
                if not self.voice.cancel(message.request_id):
                    self._cancel_pending(message.request_id)
            elif isinstance(message, SynthesizeRequest):
                self.voice.submit(message)  # spoken while this request goes on
            else:
                self.pending.append(message)

    def _cancel_pending(self, request_id: int) -> None:
        for queued in list(self.pending):
            if getattr(queued, "request_id", None) == request_id:
                self.pending.remove(queued)
                self.send(Done(request_id, "stopped", GenerationStats()))

    # ---- loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        logger.info("Engine process %d ready", os.getpid())
        try:
            while not self.closing:
                request = self.receive()
                if request is None or isinstance(request, ShutdownRequest):
                    break
                if isinstance(request, CancelRequest):
                    # A speech request may still run; any other already finished (queued ones are
                    # answered early, in check_cancel).
                    self.voice.cancel(request.request_id)
                    continue
                if isinstance(request, SynthesizeRequest):
                    self.voice.submit(request)
                    continue
                self.handle(request)
        except _ParentGone:
            logger.info("GUI process went away; engine exiting")
        finally:
            self.voice.close()
            if self.model is not None:
                self.model.close()
        logger.info("Engine process %d exiting", os.getpid())

    def handle(
        self,
        request: ChatRequest | LoadRequest | TranscribeRequest | PerceiveRequest | EmbedTextRequest
        | BenchmarkRequest | PrepareRequest | IndexImagesRequest | IndexDocumentsRequest
        | SearchDocumentsRequest | ReadDocumentRequest,
    ) -> None:
        rid = request.request_id
        try:
            if isinstance(request, TranscribeRequest):
                self.transcription.transcribe(request)
                return
            if isinstance(request, PerceiveRequest):
                self.perception.perceive(request, self.prefill_beside)
                return
            if isinstance(request, EmbedTextRequest):  # the image library's search (milliseconds)
                self.perception.embed_text(request)
                return
            if isinstance(request, IndexImagesRequest):  # background work: small batches
                self.indexing.index(request)
                return
            if isinstance(request, IndexDocumentsRequest):  # background work: file by file
                self.documents.index(request)
                return
            if isinstance(request, SearchDocumentsRequest):  # a question's passages (milliseconds)
                self.documents.search(request)
                return
            if isinstance(request, ReadDocumentRequest):  # a document attached to one question
                self.documents.read(request)
                return
            if isinstance(request, PrepareRequest):  # first run: assemble a bundled model, load nothing
                benchmark.prepare(request, self.send, self.assembly_progress(rid))
                return
            if isinstance(request, BenchmarkRequest):  # first run: speed of a model on this machine
                self.unload_chat_model()  # two models side by side may not fit; the next chat reloads
                benchmark.benchmark(request, self.send, lambda: self.check_cancel(rid),
                                    self.assembly_progress(rid))
                return
            load_s = self.ensure_loaded(rid, request.config)
            if isinstance(request, LoadRequest):
                if not load_s and self.model is not None:  # already loaded: still say which model it is
                    self.send(self.loaded(rid, 0.0))
                self.send(Done(rid, "complete", GenerationStats(load_s=load_s)))
            else:
                self.chat(request, load_s)
        except _ParentGone:
            raise
        except _Stop:
            self.send(Done(rid, "stopped", GenerationStats()))
        except (catalog.ModelError, gguf.GGUFError) as error:
            logger.warning("Request %d: bad model: %s", rid, error)
            self.send(Failed(rid, str(error), kind="bad_model"))
        except PromptTooLong as error:
            self.send(Failed(rid, str(error), kind="too_long"))
        except (AudioError, LanguageError, ImageError) as error:  # names the file and what to do
            self.send(Failed(rid, str(error), kind="engine"))
        except RemoteError as error:  # the remote server's problem in words (refused, 401, timeout...)
            logger.warning("Request %d: remote server: %s", rid, error)
            self.send(Failed(rid, str(error), kind="engine"))
        except Exception as error:  # the process must survive any engine failure
            logger.exception("Request %d failed", rid)
            summary = f"{type(error).__name__}: {error}"
            if len(summary) > 300:
                summary = summary[:300] + "…"
            self.send(Failed(rid, f"The engine could not answer ({summary}).", kind="engine"))

    def ensure_loaded(self, request_id: int, config: EngineConfig) -> float:
        """Load the model `config` names unless it is loaded already; returns the load time (or 0)."""
        if (
            self.model is not None
            and self.config is not None
            and dataclasses.replace(self.config, prefix_reuse=config.prefix_reuse) == config
        ):
            # Prefix reuse is a per-request policy of the loaded model, no reload needed.
            self.model.prefix_reuse = config.prefix_reuse and self.model.prefix_reuse
            self.config = config
            return 0.0
        # Free the old model first: two models side by side may not fit in memory.
        self.unload_chat_model()
        loaded_from: list[Path] = []

        def assemble() -> Path:  # only a local model has a file to assemble and load
            data_dir = Path(config.data_dir)
            path = catalog.ensure_model(catalog.find_model(config.model, data_dir), data_dir,
                                        self.assembly_progress(request_id))
            self.send(Progress(request_id, "load", 0, 1, f"Loading {path.name}"))
            loaded_from.append(path)
            return path

        model = load_chat_model(config, assemble)
        self.model, self.config = model, config
        if loaded_from:
            self.send(Progress(request_id, "load", 1, 1, f"Loaded {loaded_from[0].name}"))
        self.send(self.loaded(request_id, model.load_s))
        return model.load_s

    def prefill_beside(self, request: ChatRequest, should_stop: StopCheck) -> int:
        """A prefill-only request evaluated on perception's second thread while an image is read
        (`host/prefill_beside.py`); only into the model it names when that is loaded already: loading
        one there would race the request thread for the model slot."""
        model, config = self.model, self.config
        if model is None or config is None:
            return 0
        if dataclasses.replace(config, prefix_reuse=request.config.prefix_reuse) != request.config:
            return 0
        return model.prefill(self.checked_images(request), request.options, should_stop, open_end=True)

    def loaded(self, request_id: int, seconds: float) -> ModelLoaded:
        model = self.model
        assert model is not None
        return ModelLoaded(request_id, model.name, seconds, model.context_size, model.gpu_layers,
                           vision=model.sees_images, accelerator=model.accelerator)

    def unload_chat_model(self) -> None:
        if self.model is not None:
            self.model.close()
            self.model, self.config = None, None

    def assembly_progress(self, request_id: int) -> catalog.Progress:
        last_percent = -1

        def progress(message: str, done: int, total: int) -> None:
            nonlocal last_percent
            percent = done * 100 // total if total else 0
            if percent != last_percent:  # one event per percent keeps the pipe quiet
                last_percent = percent
                self.send(Progress(request_id, "assemble", done, total, message))
            if self.check_cancel(request_id):
                raise _Stop()

        return progress

    def chat(self, request: ChatRequest, load_s: float) -> None:
        """One answer (or one prefill), the same for every kind of chat model."""
        model = self.model
        assert model is not None
        rid = request.request_id
        stop_seen = False

        def stop_requested() -> bool:  # sticky: check_cancel reads a CancelRequest off the pipe once
            nonlocal stop_seen
            stop_seen = stop_seen or self.check_cancel(rid)
            return stop_seen

        if stop_requested():
            raise _Stop()
        messages = self.checked_images(request)
        stats = GenerationStats(load_s=load_s)
        if request.prefill_only:
            stats.prompt_tokens = model.prefill(messages, request.options, stop_requested,
                                                open_end=request.open_end)
            self.send(Done(rid, "stopped" if stop_seen else "complete", stats))
            return
        pieces = model.stream(messages, request.options, stats, stop_requested)
        try:
            for piece in pieces:
                self.send(Token(rid, piece))
                if stop_requested():
                    break
        finally:
            pieces.close()  # the model's own clean-up (llama.cpp state, the HTTP connection)
        self.send(Done(rid, "stopped" if stop_seen else "complete", stats))

    @staticmethod
    def checked_images(request: ChatRequest) -> tuple[ChatMessage, ...]:
        """The request's messages, once every image in them is checked to be a kept copy in the data
        folder (`images.kept`): a model that sees images never opens a path the user gave."""
        folder = kept.images_dir(Path(request.config.data_dir)).resolve()
        outside = [Path(p).name for m in request.messages for p in m.images
                   if not Path(p).resolve().is_relative_to(folder)]
        if outside:
            raise ValueError(f"images for the model must be kept copies in {folder}: {', '.join(outside)}")
        return request.messages
