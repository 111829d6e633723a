"""Types shared by the core and the engines.

The core defines these; engines implement them. Nothing here imports an engine, so the core can be
tested without any model library installed.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


class ModelError(Exception):
    """A model cannot be used (missing, damaged, the wrong kind, refused by its library); ``str()`` is a
    message for the user that names the file and says what to do."""

# Asked between tokens and between slices of a prompt evaluation: True once the user pressed Stop.
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class ChatMessage:
    """One message as the model sees it (small and picklable: it crosses the process boundary).

    `images` are kept copies (`images.kept`, in the data folder) shared with this user message: a model
    that sees images looks at them (the newest message's always, earlier ones within
    `vision_history`'s rule); a text-only model ignores them, since the message's text already holds
    what was read in them.
    """

    role: Role
    content: str
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling options for one answer.

    The defaults are llama.cpp's own (`common_params_sampling`: temp 0.8, top-k 40, top-p 0.95, min-p
    0.05, no repeat penalty) for callers that want the library's behaviour; answers to the user get
    theirs from `assistant.chat.sampling`, per model and question. temperature 0 is greedy decoding.
    seed None lets the engine pick (llama-cpp-python then reuses one fixed seed in every process).
    """

    max_tokens: int = 1024
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    top_k: int = 40  # 0: the whole vocabulary
    min_p: float = 0.05  # 0: off
    repeat_penalty: float = 1.0  # 1: off

    def sampling(self) -> dict[str, float]:
        """The sampler settings as stored with an answer (`GenerationStats.sampling`)."""
        # All of them even for greedy decoding (temperature 0): llama.cpp applies the repeat penalty
        # before its greedy pick, and a record that leaves fields out cannot be replayed.
        values: dict[str, float] = {"temperature": self.temperature, "top_k": self.top_k,
                                    "top_p": self.top_p, "min_p": self.min_p,
                                    "repeat_penalty": self.repeat_penalty}
        if self.seed is not None:
            values["seed"] = self.seed
        return values


@dataclass
class GenerationStats:
    """What one answer cost; filled in by the engine while it streams."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens whose KV cache was kept from the previous turn
    completion_tokens: int = 0
    load_s: float = 0.0  # model load time when this request loaded the model, else 0
    first_token_s: float = 0.0  # request start (after load) -> first token
    total_s: float = 0.0
    dropped_messages: int = 0  # history messages left out to fit the context window
    template: str = "gguf"  # "gguf" (the model's own chat template) or "fallback" (ChatML)
    extra: dict[str, float] = field(default_factory=dict)
    # What the engine handed its sampler for this answer (`GenerationOptions.sampling()`), stored with it.
    sampling: dict[str, float] = field(default_factory=dict)

    @property
    def decode_tokens_per_s(self) -> float:
        decode_s = self.total_s - self.first_token_s
        if self.completion_tokens <= 1 or decode_s <= 0:
            return 0.0
        return (self.completion_tokens - 1) / decode_s

    def as_dict(self) -> dict[str, float]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "reused_tokens": self.reused_tokens,
            "completion_tokens": self.completion_tokens,
            "load_s": round(self.load_s, 4),
            "first_token_s": round(self.first_token_s, 4),
            "total_s": round(self.total_s, 4),
            "tokens_per_s": round(self.decode_tokens_per_s, 2),
            "dropped_messages": self.dropped_messages,
        }


class ChatModel(Protocol):
    """A loaded chat model that streams an answer token by token: a local GGUF, a vision GGUF with its
    projector, or a remote OpenAI-compatible server all implement this one contract, so the engine's
    chat loop has no model-type branches (`host/chat_models.py` picks the class)."""

    name: str
    context_size: int
    gpu_layers: int  # layers offloaded to a GPU (0: all on the CPU, or a remote model)
    load_s: float
    sees_images: bool  # uses ChatMessage.images; a text-only model ignores them
    prefix_reuse: bool  # keeps the KV cache of the shared prompt prefix between questions
    accelerator: Any  # `models.accelerator.Accelerator` (backend, GPU, layers offloaded); None when remote

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's vocabulary (used to fit history into the context)."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        stats: GenerationStats,
        should_stop: StopCheck,
    ) -> Generator[str, None, None]:
        """Yield answer text pieces as they are sampled; fill `stats` as it goes.

        `should_stop` is asked while the prompt is evaluated and between tokens: once it says True the
        stream ends early. The caller may also stop iterating at any time.
        """
        ...

    def prefill(self, messages: Sequence[ChatMessage], options: GenerationOptions, should_stop: StopCheck,
                open_end: bool = False) -> int:
        """Evaluate the prompt `stream` would evaluate for these messages, answer nothing; returns the
        tokens evaluated (0 for a model with nothing to prepare). `open_end`: the last message is only
        the start of one (an image question before the image is read): evaluate up to its text, not
        the end-of-message and answer tokens that follow it in the full prompt."""
        ...

    def close(self) -> None: ...


# ---- speech ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A stretch of transcribed speech; times in seconds from the start of the audio."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class TranscriptionOptions:
    language: str | None = None  # None: detect; else an ISO 639-1 code such as "de"
    task: Literal["transcribe", "translate"] = "transcribe"  # translate: Whisper's X -> English
    vad: bool = True  # Silero VAD: silence and noise give no text
    beam_size: int | None = None  # None: the engine's choice (engines/whisper_decoding.py); else fixed
    # Push-to-talk: the encoder sees only the clip, not a 30 s window (engines/whisper_short.py).
    short_context: bool = False
    # Names and terms from the conversation (voice/conversation_terms.py), so they are heard as written.
    context: tuple[str, ...] = ()


@dataclass
class TranscriptionInfo:
    """Filled in by the engine as soon as the language is known (before the first segment)."""

    language: str = ""
    language_probability: float = 0.0
    duration_s: float = 0.0


class SpeechToText(Protocol):
    """Speech recognition over 16 kHz mono float32 audio."""

    name: str

    def transcribe(
        self, audio: Any, options: TranscriptionOptions, info: TranscriptionInfo
    ) -> Iterator[Segment]:
        """Yield segments as they are decoded; `audio` is a numpy float32 array at 16 kHz, mono."""
        ...


class Speaker(Protocol):
    """Text to speech: one sentence in, PCM samples out."""

    sample_rate: int

    def synthesize(self, text: str) -> Iterator[Any]:
        """Yield numpy int16 (or float32) chunks of audio for `text`, mono at `sample_rate`."""
        ...


# ---- images ---------------------------------------------------------------------------------------

Point = tuple[float, float]


@dataclass(frozen=True)
class TextLine:
    """One line of text found in an image (small and picklable: it crosses the process boundary)."""

    text: str
    # Corners in image pixels, clockwise from the top-left.
    box: tuple[Point, Point, Point, Point]
    confidence: float  # 0..1, the recogniser's mean character probability


@dataclass(frozen=True)
class ReadText:
    """What OCR read in one image: the lines in reading order, and their text."""

    lines: tuple[TextLine, ...]
    text: str  # columns of prose one after the other, else rows top to bottom; rows joined by newlines
    seconds: float = 0.0
    # The recogniser's confidence over all it read, 0..1, weighted by characters (lines too unsure to
    # keep count too); None when no text was found. `prompt.image_question.POOR_READ` says when it is poor.
    confidence: float | None = None


class TextReader(Protocol):
    """OCR over a decoded image (see `assistant.images.safe_image`)."""

    name: str

    def read(self, image: Any) -> ReadText:
        """Read the text in `image`, an RGB PIL image; boxes are in that image's pixels."""
        ...


class ClipEncoder(Protocol):
    """A CLIP model: images and texts into one vector space (`engines.clip_onnx.ClipModel`). The image
    library searches and indexes with it, and zero-shot labels rank label prompts with it."""

    @property
    def fingerprint(self) -> str:
        """Names the weights: vectors of one fingerprint are comparable with each other."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def config(self) -> Any:
        """The model folder's `clip.folder.ClipConfig` (logit scale, sizes, layout)."""
        ...

    def embed_images(self, images: Sequence[Any]) -> Any:
        """Unit-length float32 rows (numpy), one per decoded image."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> Any:
        """Unit-length float32 rows (numpy), one per text."""
        ...


class ImageClassifier(Protocol):
    """A closed-vocabulary image classifier (`engines.classifier.ImageNetClassifier`): what a photo may
    show when no CLIP model is installed. Its labels are guesses, passed on with their probabilities."""

    name: str

    def classify(self, image: Any, top_k: int = 5) -> tuple[tuple[str, float], ...]:
        """(label, probability) pairs for an RGB PIL image, likeliest first."""
        ...


class TextEmbedder(Protocol):
    """A sentence-embedding model: texts into unit-length vectors whose dot product is their cosine
    similarity (`engines.embeddings.OnnxTextEmbedder`). The documents library embeds passages and
    questions with it; without one it searches by keywords (BM25) alone."""

    @property
    def fingerprint(self) -> str:
        """Names the weights: vectors of one fingerprint are comparable with each other."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Tokens the model reads of one text; the rest of a longer text is not embedded."""
        ...

    def embed(self, texts: Sequence[str]) -> Any:
        """Unit-length float32 rows (numpy, shape (len(texts), dim)), one per text."""
        ...
