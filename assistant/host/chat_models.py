"""Which chat-model class answers for an `EngineConfig`: a small registry, first match wins.

Like llama-cpp-python's `register_chat_format`, each kind registers a test and a loader; the engine
process asks `load_chat_model` and gets something that implements `protocols.ChatModel`, so its chat
loop never asks which kind it holds. The ML libraries are imported inside the loaders only: the window
process imports this module (through `host.process`) without loading any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.host.messages import EngineConfig
from assistant.models import catalog
from assistant.models.vision_pairing import chat_model_pair
from assistant.protocols import ChatModel

# Assembles (and verifies) the model file the config names, reporting progress; the loaders that need a
# local file call it, so a remote server assembles nothing.
Assemble = Callable[[], Path]
Matches = Callable[[EngineConfig], bool]
Loader = Callable[[EngineConfig, Assemble], ChatModel]


@dataclass(frozen=True)
class ChatModelKind:
    name: str
    matches: Matches
    load: Loader


_KINDS: list[ChatModelKind] = []


def register(name: str, matches: Matches) -> Callable[[Loader], Loader]:
    """Decorator: `loader` builds the model when `matches(config)`; earlier registrations win."""

    def add(loader: Loader) -> Loader:
        _KINDS.append(ChatModelKind(name, matches, loader))
        return loader

    return add


def kind_for(config: EngineConfig) -> ChatModelKind:
    return next(kind for kind in _KINDS if kind.matches(config))


def load_chat_model(config: EngineConfig, assemble: Assemble) -> ChatModel:
    return kind_for(config).load(config, assemble)


@register("remote", lambda config: config.remote is not None)
def _remote(config: EngineConfig, assemble: Assemble) -> ChatModel:
    """An OpenAI-compatible server: nothing loads and nothing connects yet."""
    from assistant.engines.remote_chat import RemoteChatModel  # standard library only

    assert config.remote is not None
    return RemoteChatModel(config.remote, context_size=config.context_size)


@register("vision", lambda config: chat_model_pair(config.model, Path(config.data_dir)) is not None)
def _vision(config: EngineConfig, assemble: Assemble) -> ChatModel:
    """A user's vision GGUF with its projector (mmproj) next to it."""
    from assistant.engines.llama_vision import VisionChatModel  # the ML library is imported only here

    assemble()
    pair = chat_model_pair(config.model, Path(config.data_dir))
    if pair is None:  # moved away since the match a moment ago
        raise catalog.ModelError(f"the projector for {config.model} is gone; put it back next to the model")
    return VisionChatModel.load(pair, context_size=config.context_size, threads=config.threads,
                                gpu_layers=config.gpu_layers)


@register("gguf", lambda config: True)
def _gguf(config: EngineConfig, assemble: Assemble) -> ChatModel:
    """Any other GGUF: a catalogue model (assembled from its packages) or a user's file."""
    from assistant.engines.llama import LlamaChatModel  # the ML library is imported only here

    return LlamaChatModel.load(assemble(), context_size=config.context_size, threads=config.threads,
                               gpu_layers=config.gpu_layers, prefix_reuse=config.prefix_reuse)
