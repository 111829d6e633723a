"""Answer questions about images with a vision GGUF and its projector (mmproj) through
llama-cpp-python's multimodal chat handlers.

What this adds to "construct the handler and call it":
- both files are preflighted in pure Python first (``gguf.py``, ``projector.py``), because
  llama.cpp's projector loader aborts the process on some malformed files, and the pair is checked
  again (it may have been found minutes ago, and files move);
- the projector is loaded eagerly at ``load()``, not lazily at the first question, so a projector
  llama.cpp refuses fails where the user picked the model, with the file named;
- images reach the handler only as ``data:`` URIs of pixels already decoded by
  ``images/safe_image.py``: the handlers would otherwise open any path or URL with urllib;
- the user's text cannot smuggle in mtmd's media marker (it would desynchronise images and slots),
  and every user message goes in as a list of parts (llama-cpp-python's LLaVA templates render a
  plain-string user message twice).
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import llama_cpp
from llama_cpp import llama_chat_format

from assistant.engines.llama import (  # the private helper too: one way to tolerate a broken template
    _lenient_template_compilation,
    physical_cores,
    resolve_gpu_layers,
)
from assistant.engines.llama_build import offload_report
from assistant.engines.vision_images import (
    VISION_MAX_SIDE,
    ImageTokenCounter,
    earlier_image_urls,
    image_png,
    png_data_uri,
)
from assistant.images.safe_image import DecodedImage, open_image
from assistant.models import gguf
from assistant.models.catalog import ModelError
from assistant.models.projector import ADVICE, ProjectorFacts, is_projector, projector_facts
from assistant.models.vision_match import incompatibility, model_facts
from assistant.models.vision_pairing import VisionPair
from assistant.prompt import vision_history
from assistant.prompt.conversation import PromptTooLong, fit_to_context
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats, StopCheck

logger = logging.getLogger(__name__)

DEFAULT_MARKER = "<__media__>"
# Handlers whose prompt is "USER: ... ASSISTANT:": stop if the model starts the next turn itself.
_USER_ASSISTANT_FORMATS = {"Llava15ChatHandler", "Llava16ChatHandler", "ObsidianChatHandler"}


@dataclass(frozen=True)
class LoadPlan:
    """Everything `VisionChatModel.load` will do, decided before any C code runs (tests stop here)."""

    pair: VisionPair
    handler_class: type
    handler_name: str
    handler_reason: str
    projector: ProjectorFacts
    llama_kwargs: dict[str, Any]
    has_chat_template: bool

    def make_handler(self) -> Any:
        kwargs: dict[str, Any] = {"clip_model_path": str(self.pair.mmproj), "verbose": False}
        if _is_subclass(self.handler_class, "MTMDChatHandler"):
            kwargs["use_gpu"] = self.llama_kwargs.get("n_gpu_layers", 0) != 0
        try:
            return self.handler_class(**kwargs)
        except ValueError as error:  # "Clip model path does not exist": removed since preflight
            raise ModelError(f"the vision projector {self.pair.mmproj} cannot be opened: {error}") from error


def _is_subclass(cls: type, name: str) -> bool:
    return any(base.__name__ == name for base in cls.__mro__)


def preflight_pair(pair: VisionPair) -> tuple[gguf.GGUFHeader, ProjectorFacts]:
    """Checks both files as llama.cpp would need them; ModelError names the file and what to do."""
    try:
        model_header = gguf.read_header(pair.model)
    except gguf.GGUFError as error:
        raise ModelError(f"the vision model {pair.model.name} cannot be used: {error}") from None
    if not pair.mmproj.exists():
        raise ModelError(f"the vision projector {pair.mmproj} for {pair.model.name} is missing (moved or "
                         "deleted). Put it back next to the model, or download it again.")
    try:
        header = gguf.read_header(pair.mmproj)
    except gguf.GGUFError as error:
        raise ModelError(f"the vision projector for {pair.model.name} cannot be used: {error}. "
                         f"{ADVICE}") from None
    if not is_projector(header):
        arch = header.get("general.architecture") or "unknown"
        raise ModelError(f"{pair.mmproj.name} is not a vision projector (mmproj): its metadata says it is "
                         f"a {arch} language model. Choose the mmproj file that came with {pair.model.name}.")
    facts = projector_facts(header)
    if facts.problem:
        raise ModelError(f"the vision projector {pair.mmproj.name} cannot be used: {facts.problem}. {ADVICE}")
    mismatch = incompatibility(model_facts(model_header), facts)
    if mismatch:
        raise ModelError(f"{mismatch}. Use the mmproj file published with {pair.model.name}.")
    return model_header, facts


def resolve_handler(name: str, has_chat_template: bool) -> tuple[type, str, str]:
    """(class, its name, note): the pairing's choice, or a fallback if this llama-cpp-python lacks it."""
    cls = getattr(llama_chat_format, name, None)
    if isinstance(cls, type):
        return cls, name, ""
    fallback = ("MTMDChatHandler" if has_chat_template and hasattr(llama_chat_format, "MTMDChatHandler")
                else "Llava15ChatHandler")
    note = f"{name} is not in llama-cpp-python {llama_cpp.__version__}; using {fallback}"
    logger.warning("%s", note)
    return getattr(llama_chat_format, fallback), fallback, note


def prepare_load(pair: VisionPair, context_size: int = 4096, threads: int = 0,
                 gpu_layers: int = -1) -> LoadPlan:
    model_header, facts = preflight_pair(pair)
    has_template = isinstance(model_header.get("tokenizer.chat_template"), str)
    cls, name, note = resolve_handler(pair.handler, has_template)
    threads = threads if threads > 0 else physical_cores()
    kwargs: dict[str, Any] = dict(model_path=str(pair.model), n_ctx=context_size, n_threads=threads,
                                  n_threads_batch=threads, n_gpu_layers=resolve_gpu_layers(gpu_layers),
                                  verbose=False)
    return LoadPlan(pair, cls, name, note or pair.handler_reason, facts, kwargs, has_template)


def image_data_uri(image: DecodedImage) -> str:
    return png_data_uri(image_png(image))


def load_images(paths: Sequence[Path | str], max_side: int = VISION_MAX_SIDE) -> list[DecodedImage]:
    """Decode files the safe way (raises ImageError with a message); the engine's only way in."""
    return [open_image(p, max_side=max_side) for p in paths]


def chat_messages(messages: Sequence[ChatMessage], image_urls: Sequence[str],
                  marker: str = DEFAULT_MARKER,
                  earlier_urls: Mapping[int, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """OpenAI-style messages; each user message's images go before its text: `image_urls` with the
    newest, `earlier_urls` (by index into `messages`) with the earlier ones they were shared with."""
    if not messages or messages[-1].role != "user":
        raise ValueError("the newest message must be the user's question")
    by_message = dict(earlier_urls or {})
    by_message[len(messages) - 1] = list(image_urls)
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        text = m.content.replace(marker, "[image]")  # a typed marker would claim an image slot
        if m.role != "user":
            out.append({"role": m.role, "content": text})
            continue
        parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}}
                                       for url in by_message.get(i, ())]
        parts.append({"type": "text", "text": text})
        out.append({"role": "user", "content": parts})
    return out


class VisionChatModel:
    """A loaded vision model and projector. Not thread-safe: the engine process drives it."""

    sees_images = True
    # The handlers clear the KV cache and evaluate every question afresh, images included: there is
    # no prefix to reuse (a follow-up re-encodes the images it re-sends), and nothing to prefill.
    prefix_reuse = False

    def __init__(self, llm: llama_cpp.Llama, plan: LoadPlan, *, context_size: int, load_s: float) -> None:
        self.llm = llm
        self.plan = plan
        self.name = plan.pair.model.stem
        self.context_size = context_size
        self.gpu_layers = int(plan.llama_kwargs.get("n_gpu_layers", 0))
        self.load_s = load_s
        self.accelerator = offload_report(llm)  # which backend runs it, and the layers on a GPU
        try:
            from llama_cpp import mtmd_cpp

            self.marker = mtmd_cpp.mtmd_default_marker().decode("utf-8")
        except (ImportError, AttributeError):
            self.marker = DEFAULT_MARKER
        self.image_tokens = ImageTokenCounter(llm.chat_handler, self.marker)

    @classmethod
    def load(cls, pair: VisionPair, context_size: int = 4096, threads: int = 0,
             gpu_layers: int = -1) -> VisionChatModel:
        """Preflight, load the language model with the handler, then the projector; ModelError with
        a message naming the file when anything fails."""
        plan = prepare_load(pair, context_size, threads, gpu_layers)
        handler = plan.make_handler()
        kwargs = dict(plan.llama_kwargs, chat_handler=handler)
        started = time.perf_counter()
        try:
            try:
                llm = llama_cpp.Llama(**kwargs)
            except jinja2.TemplateError as error:
                logger.warning("Chat template in %s does not compile (%s)", pair.model.name, error)
                with _lenient_template_compilation():
                    llm = llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as error:
            raise ModelError(f"llama.cpp could not load {pair.model.name}: {error}. The file may be "
                             "damaged, or made for a newer llama.cpp than this app includes.") from error
        _load_projector(llm, handler, plan)
        load_s = time.perf_counter() - started
        logger.info("Loaded %s + %s in %.2f s with %s (%s)", pair.model.name, pair.mmproj.name, load_s,
                    plan.handler_name, plan.handler_reason)
        return cls(llm, plan, context_size=context_size, load_s=load_s)

    def close(self) -> None:
        self.llm.close()

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prefill(self, messages: Sequence[ChatMessage], options: GenerationOptions, should_stop: StopCheck,
                open_end: bool = False) -> int:
        return 0  # every question is evaluated afresh (see `prefix_reuse`)

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions, stats: GenerationStats,
               should_stop: StopCheck) -> Generator[str, None, None]:
        """Yield the answer as it is sampled; `should_stop` is asked between tokens (the handler
        evaluates images and prompt in one call, which cannot be interrupted).

        The newest message's images always go with it; the images of earlier user messages are
        re-attached within `vision_history`'s rule. Every path is decoded the safe way here.
        """
        started = time.perf_counter()
        images = load_images(messages[-1].images) if messages else []
        earlier = {index: m.images for index, m in enumerate(messages[:-1]) if m.role == "user" and m.images}
        pngs = [image_png(image) for image in images]
        newest_tokens = sum(self.image_tokens.count(image.sha256, png)
                            for image, png in zip(images, pngs, strict=True))
        budget = max(self.context_size - options.max_tokens - newest_tokens, self.context_size // 4)
        fitted = fit_to_context(messages, self.count_tokens, budget)
        stats.dropped_messages = fitted.dropped
        stats.template = self.plan.handler_name
        room = self.context_size - options.max_tokens - newest_tokens - fitted.tokens
        has_system = bool(messages) and messages[0].role == "system"
        candidates = vision_history.in_fitted_window(earlier or {}, len(messages), has_system, fitted.dropped)
        again, again_tokens = earlier_image_urls(self.image_tokens, candidates, room)
        stats.extra["earlier_images"] = float(sum(len(urls) for urls in again.values()))
        stats.extra["image_tokens"] = float(newest_tokens + again_tokens)
        urls = [png_data_uri(png) for png in pngs]
        stops = ["\nUSER:"] if self.plan.handler_name in _USER_ASSISTANT_FORMATS else []
        stats.sampling = options.sampling()
        try:
            chunks = self._start(chat_messages(fitted.messages, urls, self.marker, again), options, stops)
        except PromptTooLong:
            if not again:
                raise
            # Image counts are exact but the template's text is estimated: try again without them.
            logger.warning("Prompt with %d earlier images does not fit; sending it without them", len(again))
            stats.extra["earlier_images"] = 0.0
            chunks = self._start(chat_messages(fitted.messages, urls, self.marker), options, stops)
        stats.prompt_tokens = self.llm.n_tokens
        # The handlers clear the KV cache and evaluate every question afresh, images included: prefix
        # reuse is off for vision models (a follow-up re-encodes the images it re-sends).
        stats.reused_tokens = 0
        stats.extra["prompt_eval_s"] = round(time.perf_counter() - started, 4)
        pieces = 0
        try:
            for chunk in chunks:  # type: ignore[union-attr]
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    if not stats.first_token_s:
                        stats.first_token_s = time.perf_counter() - started
                    pieces += 1
                    yield text
                    if should_stop():
                        break
        finally:
            close: Callable[[], None] | None = getattr(chunks, "close", None)
            if close is not None:
                close()
            # One piece per sampled token, except where bytes of one character were held back.
            stats.completion_tokens = pieces
            stats.total_s = time.perf_counter() - started

    def _start(self, messages: list[dict[str, Any]], options: GenerationOptions, stops: list[str]) -> Any:
        """The handler evaluates the images and the prompt here, before the first chunk."""
        try:
            return self.llm.create_chat_completion(
                messages=messages,  # type: ignore[arg-type]
                max_tokens=options.max_tokens, temperature=options.temperature, top_p=options.top_p,
                top_k=options.top_k, min_p=options.min_p, repeat_penalty=options.repeat_penalty,
                seed=options.seed, stop=stops, stream=True)
        except ValueError as error:
            raise _prompt_error(error, self) from error
        except jinja2.TemplateError as error:  # MTMDChatHandler renders the model's own template
            raise ModelError(f"the chat template of {self.name} cannot render a question with images "
                             f"({type(error).__name__}: {error})") from error


def _route_mtmd_logs() -> None:
    """mtmd logs every prompt it tokenizes ("add_text: <the user's words>") straight to stderr;
    llama-cpp-python's own callback drops everything below ERROR unless a model is verbose."""
    try:
        from llama_cpp import _logger, mtmd_cpp

        mtmd_cpp.mtmd_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
        mtmd_cpp.mtmd_helper_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    except (ImportError, AttributeError) as error:  # another llama-cpp-python layout: only noisier
        logger.debug("cannot route mtmd logs: %s", error)


def _load_projector(llm: llama_cpp.Llama, handler: Any, plan: LoadPlan) -> None:
    _route_mtmd_logs()
    init = getattr(handler, "_init_mtmd_context", None)
    if init is None:  # a handler without mtmd would load its projector at the first question
        return
    try:
        init(llm)
    except ValueError as error:
        llm.close()
        raise ModelError(
            f"llama.cpp could not load the vision projector {plan.pair.mmproj.name} for "
            f"{plan.pair.model.name} ({error}). It may belong to another model, or its projector type "
            f"'{plan.projector.projector_type}' may need a newer llama.cpp than this app includes. "
            f"{ADVICE}") from error


def _prompt_error(error: ValueError, model: VisionChatModel) -> Exception:
    text = str(error)
    if "exceeds n_ctx" in text:
        need = text.split(":")[-1].split(">")[0].strip()
        tokens = int(need) if need.isdigit() else model.context_size + 1
        return PromptTooLong(tokens, model.context_size)
    if "bitmap" in text or "tokenize" in text or "chunk" in text:
        return ModelError(f"the model could not read the image: {text}")
    return ModelError(f"{model.name} could not answer with images: {text}")
