"""Messages between the GUI process and the engine process.

Everything here is a small frozen dataclass: it is pickled across the pipe (process boundary), so it
must not hold open files, models or Qt objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats
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

    @classmethod
    def from_settings(cls, settings: Settings, data_dir: Path) -> EngineConfig:
        return cls(
            model=settings.model,
            data_dir=str(data_dir),
            context_size=settings.context_size,
            threads=settings.threads,
            gpu_layers=settings.gpu_layers,
        )


@dataclass(frozen=True)
class ChatRequest:
    request_id: int
    config: EngineConfig
    messages: tuple[ChatMessage, ...]  # system prompt first, newest user message last
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True)
class LoadRequest:
    """Load (or assemble then load) a model ahead of the first question."""

    request_id: int
    config: EngineConfig


@dataclass(frozen=True)
class CancelRequest:
    request_id: int


@dataclass(frozen=True)
class ShutdownRequest:
    pass


Request = ChatRequest | LoadRequest | CancelRequest | ShutdownRequest

# ---- events: engine -> GUI --------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Long preparation work: stage is 'assemble' (bytes) or 'load' (0..1)."""

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


@dataclass(frozen=True)
class Token:
    request_id: int
    text: str


@dataclass(frozen=True)
class Done:
    """The answer ended: 'complete' (the model finished) or 'stopped' (the user pressed Stop)."""

    request_id: int
    status: Literal["complete", "stopped"]
    stats: GenerationStats


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


Event = Progress | ModelLoaded | Token | Done | Failed
