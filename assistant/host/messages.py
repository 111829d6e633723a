"""Messages between the GUI process and the engine process.

Everything here is a small frozen dataclass: it is pickled across the pipe (process boundary), so it
must not hold open files, models or Qt objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from assistant.documents.types import FileEvent, Passage, SearchMode
from assistant.models.accelerator import Accelerator
from assistant.models.fit import resolve_chat_model
from assistant.models.remote_server import RemoteEndpoint, endpoint_from_settings
from assistant.protocols import (
    ChatMessage,
    GenerationOptions,
    GenerationStats,
    Segment,
    TextLine,
    TranscriptionOptions,
)
from assistant.settings import Settings

# ---- requests: GUI -> engine ------------------------------------------------------------------


@dataclass(frozen=True)
class EngineConfig:
    """How to load the chat model. A change of any field reloads it."""

    model: str  # catalogue name or a path to a .gguf
    data_dir: str  # where bundled models are assembled
    context_size: int = 4096
    threads: int = 0  # 0: one per physical core
    gpu_layers: int = -1  # -1: all layers when the llama.cpp build can offload, else 0
    prefix_reuse: bool = True  # keep the KV cache of the shared prompt prefix between turns
    # Set when model is remote_config.REMOTE_MODEL: an OpenAI-compatible server answers instead.
    remote: RemoteEndpoint | None = None

    @classmethod
    def from_settings(cls, settings: Settings, data_dir: Path) -> EngineConfig:
        return cls(
            model=resolve_chat_model(settings.model, data_dir),  # "" (automatic) names a model here
            data_dir=str(data_dir),
            context_size=settings.context_size,
            threads=settings.threads,
            gpu_layers=settings.gpu_layers,
            remote=endpoint_from_settings(settings),
        )


@dataclass(frozen=True)
class ChatRequest:
    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    config: EngineConfig
    # System prompt first, newest user message last; a user message's `images` (kept copies) go to a
    # model that can see them.
    messages: tuple[ChatMessage, ...]
    options: GenerationOptions = field(default_factory=GenerationOptions)
    # Evaluate the prompt into the KV cache and answer nothing (Done at once): push-to-talk sends the
    # question it expects while the key is still held, so the real request starts sampling at once.
    prefill_only: bool = False
    # With prefill_only: the last message is only the question's start (push-to-talk's key press, before
    # a word is heard), evaluated up to its text; the message's end is left for the real question.
    open_end: bool = False


@dataclass(frozen=True)
class LoadRequest:
    """Load (or assemble then load) a model ahead of the first question."""

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    config: EngineConfig


@dataclass(frozen=True)
class TranscribeRequest:
    """Speech to text for a file (decoded in the engine, chunk by chunk) or for samples in memory.

    Exactly one of `audio_path` and `audio` is set; `audio` is a numpy float32 16 kHz mono array (it is
    pickled across the pipe, so push-to-talk clips fit; long recordings should go as a file).
    """

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    model: str  # catalogue name, or a faster-whisper model folder; "": the catalogue's default
    data_dir: str  # where bundled models are assembled
    audio_path: str | None = None
    audio: Any | None = None
    options: TranscriptionOptions = field(default_factory=TranscriptionOptions)
    threads: int = 0  # 0: the engine's default for this machine

    def __post_init__(self) -> None:
        if (self.audio_path is None) == (self.audio is None):
            raise ValueError("give exactly one of audio_path and audio")


@dataclass(frozen=True)
class SynthesizeRequest:
    """Speak `text` (one sentence, usually) with a Piper voice; answered by SpeechAudio events.

    It runs on the engine's speech thread, next to a chat answer still streaming, so it never waits
    behind the chat model. Requests are served in the order they arrive; Cancel drops a queued one.
    """

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    voice: str  # catalogue name, or a Piper .onnx file or its folder; "": the catalogue's default
    data_dir: str  # where bundled voices are assembled
    text: str
    threads: int = 1  # onnxruntime threads: the chat model streams on the other cores meanwhile


@dataclass(frozen=True)
class PerceiveRequest:
    """Look at one image file: decode it safely, keep a copy by hash, read its text, label it.

    Answered by Done with an ImagePerceived result, or by Failed with the image's problem in words. The file
    is opened only in the engine process, so a hostile image can never hurt the window.
    """

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    path: str
    data_dir: str  # where the copy is kept (images/) and CLIP models are found (models/clip/)
    threads: int = 0  # OCR threads; 0: the engine's default for this machine
    labels: bool = True  # zero-shot labels, when a CLIP model is installed
    keep: bool = True  # False: keep no copy (`assistant describe` only looks)
    # The start of the question's prompt, up to where the image's text goes (a prefill-only request):
    # evaluated into the loaded chat model's KV cache while the image is read (`host/prefill_beside.py`),
    # so only the text read and the question are left at Send. Ignored when no chat model is loaded.
    prefill: ChatRequest | None = None


@dataclass(frozen=True)
class EmbedTextRequest:
    """Embed a search text with the installed CLIP model's text tower (the image library's search).

    Answered by Done with a TextEmbedded result, or by Failed when no CLIP model is installed or it is
    broken. Runs in the engine so the window never loads onnxruntime.
    """

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    text: str
    data_dir: str  # where CLIP models are found (models/clip/); the model perception loaded is reused
    model: str | None = None  # a CLIP model's name or folder; None: the first installed


@dataclass(frozen=True)
class BenchmarkRequest:
    """Measure one chat model on this machine (the first-run panel, `bench fit`): load it, evaluate a
    short prompt, decode a few tokens (`host/benchmark.py`). Answered by Progress events (assembly,
    'load', 'benchmark'), then Done with a ModelBenchmarked result; the chat model is unloaded first."""

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    model: str  # catalogue name or a path to a .gguf
    data_dir: str  # where bundled models are assembled
    threads: int = 0  # 0: one per physical core, as for chat
    gpu_layers: int = -1
    prompt_tokens: int = 64
    decode_tokens: int = 32
    # Load + prompt + decode stop early past this many seconds (at least 2 tokens are decoded), so a
    # busy or slow machine still gets its answer within the first run's 15 s per model.
    budget_s: float = 12.0


@dataclass(frozen=True)
class PrepareRequest:
    """Assemble and verify a catalogue model of any role without loading it (first run).
    Answered by Progress (stage 'assemble', bytes) and Done, or Failed with what to reinstall."""

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    model: str
    data_dir: str


@dataclass(frozen=True)
class IndexImagesRequest:
    """Embed the image library's unindexed images with the installed CLIP model, in small batches.

    Answered by Progress (stage 'index': images done of total) per batch, then Done, whose
    stats.extra holds indexed, skipped and remaining: remaining > 0 when the engine stepped aside for
    another request that arrived (ask again later). Failed when the CLIP model is missing or broken.
    """

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    data_dir: str  # the image library (image_library/) and CLIP models (models/clip/) under it
    batch_size: int = 8
    model: str | None = None  # a CLIP model's name or folder; None: the first installed


@dataclass(frozen=True)
class IndexDocumentsRequest:
    """Bring the documents library up to date with the disk (`host/documents.py`, `assistant.documents`).

    First adds the files and folders in `add` as sources and removes those in `remove` (their passages
    and vectors erased from the database and its WAL), then compares every source with the disk: new
    and changed files (size or mtime differ, then the content hash) are read, removed ones forgotten,
    unchanged ones never opened. Answered by Progress (stage 'documents': files done of total), one
    DocumentIndexed per file that was added, changed, removed or skipped, then Done with a
    DocumentsIndexSummary result; Failed only when the library itself cannot be opened (a bad file is a
    'skipped' event).

    Pause and Cancel are the same thing: cancel the ticket; what was indexed stays, and the next
    request goes on where this one stopped (done files are unchanged, so they are skipped). The engine
    also ends the run early when another request is queued (the summary's `remaining` > 0): send it
    again later, as the window does at start and when a source changes.
    """

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    data_dir: str  # the library lives in data_dir/documents/; the embedding model is assembled here
    add: tuple[str, ...] = ()  # absolute paths of files or folders to add as sources
    remove: tuple[str, ...] = ()  # sources (as listed) to remove with everything indexed from them
    scan: bool = True  # False: only add/remove (an added source is then indexed by the next scan)
    embed: bool = True  # False: keyword (BM25) search only, no embedding model loaded
    threads: int = 0  # embedding and OCR threads; 0: the engine's default for this machine


@dataclass(frozen=True)
class SearchDocumentsRequest:
    """Find the passages of the documents library that answer `query`: the query is embedded, searched
    by BM25 (SQLite FTS5) and by vector similarity, and the two rankings fused (reciprocal rank fusion).
    Without the embedding model (or with mode 'bm25') it is BM25 alone. Answered by Done with a
    DocumentsFound result; an empty library answers with no passages."""

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    data_dir: str
    query: str
    k: int = 6  # passages wanted, best first
    mode: SearchMode = "hybrid"
    sources: tuple[str, ...] = ()  # only passages under these sources (as listed); (): all of them
    threads: int = 0


@dataclass(frozen=True)
class ReadDocumentRequest:
    """Read one attached document (PDF, DOCX, Markdown, text, HTML, code) for one question, without
    adding it to the library: answered by Done with a DocumentRead result, or Failed with the file's
    problem in words. When its text fits in `max_chars` it comes whole, passages in document order;
    otherwise the passages most relevant to `query` (hybrid, as a search) that fit, still in document
    order. The file is parsed only in the engine process."""

    request_id: int = field(default=0, kw_only=True)  # assigned by EngineClient.send
    path: str
    data_dir: str  # where the embedding model is assembled
    query: str = ""
    max_chars: int = 12_000
    threads: int = 0


@dataclass(frozen=True)
class CancelRequest:
    request_id: int  # the request to stop


@dataclass(frozen=True)
class ShutdownRequest:
    pass


Request = (
    ChatRequest
    | LoadRequest
    | TranscribeRequest
    | SynthesizeRequest
    | PerceiveRequest
    | EmbedTextRequest
    | IndexImagesRequest
    | IndexDocumentsRequest
    | SearchDocumentsRequest
    | ReadDocumentRequest
    | BenchmarkRequest
    | PrepareRequest
    | CancelRequest
    | ShutdownRequest
)

# ---- results: what a finished request found, carried by its Done ------------------------------
# A request that produces one answer (an image read, a search, a benchmark ...) sends it as `Done.result`,
# not as an event of its own followed by Done: the two said the same thing ("finished, and here it is").


@dataclass(frozen=True)
class ModelBenchmarked:
    """The result of a BenchmarkRequest; rates are tokens per second."""

    model: str  # as requested
    load_s: float
    prompt_tokens: int
    prompt_tokens_per_s: float
    decode_tokens: int
    decode_tokens_per_s: float
    total_s: float  # the whole request: assembly (if any), load, prompt and decode
    gpu_offload: bool  # this llama.cpp build can offload layers to a GPU
    gpu_layers: int  # layers actually offloaded (0 on a CPU build)
    threads: int
    accelerator: Accelerator | None = None  # the build's backend, its GPU, and layers offloaded of how many
    # The share of the CPU other programs took during the kept run (models/cpu_busy.py; None: unknown),
    # and how many runs there were: a busy first run is measured once more and the faster one kept.
    busy_share: float | None = None
    runs: int = 1


@dataclass(frozen=True)
class ImagePerceived:
    """What the engine found in the image of a PerceiveRequest."""

    sha256: str  # of the file's bytes: the name of the kept copy
    format: str  # PNG, JPEG, ... (by content)
    width: int  # the original's size, upright
    height: int
    text: str  # OCR text in reading order ("" when there is none)
    lines: tuple[TextLine, ...]  # boxes in the pixels of the image that was read (`read_width` wide)
    labels: tuple[tuple[str, float], ...] = ()  # (label, probability), best first; () without CLIP
    kept_path: str | None = None  # None when the copy could not be written (disk full): still answered
    thumbnail_path: str | None = None
    ocr_s: float = 0.0
    # The image's CLIP embedding (unit-length float32 numpy vector) and the fingerprint of the model
    # that made it, for the image library; None and "" without a CLIP model.
    embedding: Any | None = None
    clip_model: str = ""
    frames: int = 1  # an animation's frame count (its first frame was read)
    read_width: int = 0  # the width of the image OCR read (boxes are in its pixels)
    labels_note: str = ""  # why there are no labels although a CLIP model is installed (it is broken)
    # The ImageNet classifier's guesses (`engines.classifier`): (label, probability), best first; () when
    # its packages are not installed (`guesses_note` says so) or the request asked for no labels.
    guesses: tuple[tuple[str, float], ...] = ()
    guesses_note: str = ""
    # The OCR read's confidence (`ReadText.confidence`, 0..1, None without text): low means misread words.
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class TextEmbedded:
    """The CLIP text embedding of an EmbedTextRequest."""

    model: str  # the CLIP model's fingerprint: library vectors of this model are comparable
    embedding: Any  # unit-length float32 numpy vector


@dataclass(frozen=True)
class DocumentsIndexSummary:
    """The end of an IndexDocumentsRequest: counts, and every skipped file
    with its reason. `remaining` files were not reached (cancelled, paused, or the engine stepped aside
    for a question): the next request indexes them. `vectors` is False when no embedding model could
    be used (keyword search still works; `note` says why)."""

    indexed: int
    unchanged: int
    removed: int
    skipped: tuple[tuple[str, str], ...]  # (path, reason)
    remaining: int
    chunks: int  # passages in the whole library now
    vectors: bool
    note: str = ""


@dataclass(frozen=True)
class DocumentsFound:
    """The passages of a SearchDocumentsRequest, best first. `mode` is what
    ran ('bm25' when asked for hybrid without an embedding model; `note` says why)."""

    query: str
    passages: tuple[Passage, ...]
    mode: SearchMode
    note: str = ""
    embed_s: float = 0.0
    search_s: float = 0.0


@dataclass(frozen=True)
class DocumentRead:
    """An attached document read for a ReadDocumentRequest: `whole` when
    every passage is here, else the most relevant ones within the request's max_chars. Passages are in
    document order; `chunk_id` is 0 (the file is not in the library)."""

    path: str
    kind: str  # 'pdf', 'docx', 'markdown', 'text', 'html', 'code'
    whole: bool
    passages: tuple[Passage, ...]
    total_passages: int
    pages: int  # PDF pages (0 for other kinds)
    chars: int  # characters of text in the whole document
    note: str = ""  # e.g. pages read by OCR, text cut at the size limit


Result = (
    ModelBenchmarked | ImagePerceived | TextEmbedded | DocumentsIndexSummary | DocumentsFound | DocumentRead
)


# ---- events: engine -> GUI --------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Long work: stage is 'assemble' (bytes), 'load' (0..1) or 'transcribe' (seconds of audio decoded;
    total is the length the file's header gives, 0 when it does not say)."""

    request_id: int
    stage: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class ModelLoaded:
    request_id: int
    model: str
    seconds: float
    context_size: int
    gpu_layers: int
    vision: bool = False  # loaded with its projector: it sees the images of a ChatRequest
    accelerator: Accelerator | None = None  # backend, GPU and layers offloaded; None for a remote server


@dataclass(frozen=True)
class Token:
    request_id: int
    text: str


@dataclass(frozen=True)
class TranscriptionStarted:
    """The language is known (detected or given); sent before the first Transcript of a request."""

    request_id: int
    language: str
    language_probability: float
    duration_s: float


@dataclass(frozen=True)
class Transcript:
    """One transcribed segment; times are seconds from the start of the audio."""

    request_id: int
    segment: Segment


@dataclass(frozen=True)
class SpeechAudio:
    """Synthesised speech for a SynthesizeRequest: int16 mono numpy samples (one chunk per sentence)."""

    request_id: int
    samples: Any
    sample_rate: int


@dataclass(frozen=True)
class DocumentIndexed:
    """One file of an IndexDocumentsRequest, as the indexer reported it: 'indexed' (new or changed),
    'removed' (gone from the disk or its source removed), 'skipped' (`file.reason` says why). Unchanged
    files send no event (they count in Progress and the summary)."""

    request_id: int
    file: FileEvent


@dataclass(frozen=True)
class Done:
    """The request ended: 'complete' (the model finished) or 'stopped' (the user pressed Stop).

    For a TranscribeRequest, stats.extra holds audio_s, segments and real_time_factor; for a
    SynthesizeRequest, audio_s.
    """

    request_id: int
    status: Literal["complete", "stopped"]
    stats: GenerationStats
    # What the request found (see Result above): an image read, a search's passages, a benchmark, an
    # indexing run's summary (also when stopped: what was done stays). None for requests whose answer
    # streams (chat tokens, transcript segments, speech audio) or that only do something (load, prepare).
    result: Result | None = None


FailureKind = Literal["bad_model", "too_long", "engine", "crashed"]


@dataclass(frozen=True)
class Failed:
    """The request could not finish. `message` is shown to the user as is.

    kind 'crashed' means the engine process died (segfault, out of memory, killed): the client
    synthesises this event, keeps whatever streamed so far, and restarts the engine on the next request.
    """

    request_id: int
    message: str
    kind: FailureKind = "engine"


Event = (
    Progress
    | ModelLoaded
    | Token
    | TranscriptionStarted
    | Transcript
    | SpeechAudio
    | DocumentIndexed
    | Done
    | Failed
)


ResultType = TypeVar("ResultType", ModelBenchmarked, ImagePerceived, TextEmbedded, DocumentsIndexSummary,
                     DocumentsFound, DocumentRead)


def result_of(event: Event, kind: type[ResultType]) -> ResultType | None:
    """The `kind` result a Done carries; None for any other event (or a Done without one)."""
    if isinstance(event, Done) and isinstance(event.result, kind):
        return event.result
    return None
