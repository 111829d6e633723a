"""Chat with a GGUF model through llama-cpp-python (implements `protocols.ChatModel`).

Three things matter beyond "call the library":
- the model's own chat template is rendered in llama-cpp-python's *sandboxed* Jinja environment, and
  any template that is missing, broken or hostile falls back to ChatML instead of failing the answer;
- the same `Llama` object is reused across turns so `Llama.generate()` keeps the KV cache of the
  longest common token prefix and evaluates only the new suffix (the conversation so far);
- the preflight GGUF check runs before llama.cpp ever sees the file, because llama.cpp may crash or
  allocate absurd amounts of memory on a malformed header.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import re
import sys
import time
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import jinja2
import llama_cpp
from llama_cpp import _logger as _llama_logger
from llama_cpp import llama_chat_format

from assistant.engines.llama_build import offload_report
from assistant.models import gguf
from assistant.models.catalog import ModelError
from assistant.prompt.conversation import FittedPrompt, PromptTooLong, fit_to_context
from assistant.prompt.texts import CHATML_STOP, render_chatml
from assistant.protocols import ChatMessage, GenerationOptions, GenerationStats, StopCheck

logger = logging.getLogger(__name__)

# Captured at import time: `_lenient_template_compilation` temporarily swaps the module attribute.
_Jinja2ChatFormatter = llama_chat_format.Jinja2ChatFormatter


def physical_cores() -> int:
    """Cores this process may use, counting SMT siblings once (llama.cpp gains nothing from them)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    siblings: set[str] = set()
    for cpu in cpus:
        try:
            siblings.add(Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text())
        except OSError:  # no sysfs (not Linux): every logical CPU counts
            return max(1, len(cpus))
    return max(1, len(siblings))


def resolve_gpu_layers(requested: int) -> int:
    """-1 means "all layers if this llama.cpp build can offload at all" (CPU builds get 0)."""
    if requested >= 0:
        return requested
    return -1 if llama_cpp.llama_supports_gpu_offload() else 0


@contextlib.contextmanager
def _lenient_template_compilation() -> Iterator[None]:
    """Let `Llama()` load a GGUF whose chat template does not compile.

    `Llama.__init__` compiles every template in the metadata and raises on a syntax error, which would
    make a perfectly good model unusable; we render templates ourselves and fall back to ChatML.
    """

    class Lenient(_Jinja2ChatFormatter):  # type: ignore[misc, valid-type]
        def __init__(self, template: str, *args: Any, **kwargs: Any) -> None:
            try:
                super().__init__(template, *args, **kwargs)
            except jinja2.TemplateError:
                super().__init__("", *args, **kwargs)

    llama_chat_format.Jinja2ChatFormatter = Lenient  # type: ignore[misc]
    try:
        yield
    finally:
        llama_chat_format.Jinja2ChatFormatter = _Jinja2ChatFormatter  # type: ignore[misc]


# A real chat template renders in well under a millisecond; one still running after this long is looping
# on purpose (nested `range` loops reach 10^10 steps inside the sandbox) and would hold the engine.
TEMPLATE_RENDER_LIMIT_S = 2.0
# Rendered where an unspoken question's text will go, to find where the prompt's start ends.
TEXT_PLACEHOLDER = "\u2063question\u2063"


class TemplateTooSlow(Exception):
    """The chat template ran past its time limit (the caller falls back to ChatML)."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise TemplateTooSlow inside a Jinja template that runs longer than `seconds`.

    Jinja compiles a template to Python code (file name "<template>"), so a trace function on those
    frames alone can stop it between two of its lines, on whatever thread renders it; every other frame
    runs untraced. The previous tracer (a debugger, coverage) is put back afterwards.
    """
    deadline = time.perf_counter() + seconds

    def on_line(frame: Any, event: str, arg: Any) -> Any:
        if time.perf_counter() > deadline:
            raise TemplateTooSlow(f"the chat template ran for more than {seconds:g} s")
        return on_line

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        return on_line if frame.f_code.co_filename == "<template>" else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)


# ggml's log levels in this llama.cpp (ggml.h): NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (the
# previous message goes on). llama-cpp-python's own table still has the older numbering.
GGML_LOG_ERROR, GGML_LOG_CONT = 4, 5
_LOG_PREFIX = re.compile(r"^(?:(?:\w+|error loading model): )+")


class _ErrorLog:
    """The error lines llama.cpp logs, kept beside llama-cpp-python's own log callback (which prints
    them, to a stderr that `Llama(verbose=False)` silences while loading)."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=8)
        self._error = False
        self._callback = llama_cpp.llama_log_callback(self._log)  # kept: C holds only a pointer
        llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))

    def _log(self, level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if level != GGML_LOG_CONT:
            self._error = level == GGML_LOG_ERROR
        if self._error:
            self.lines.append(text.decode("utf-8", "replace"))
        _llama_logger.llama_log_callback(level, text, user_data)

    def clear(self) -> None:
        self.lines.clear()

    def reason(self) -> str:
        """The first error that says what is wrong (not "failed to load model"), without llama.cpp's
        function-name prefixes ("gguf_init_from_reader: ", "error loading model: ")."""
        for line in "".join(self.lines).splitlines():
            text = " ".join(_LOG_PREFIX.sub("", line.strip()).split())  # shapes come padded with spaces
            if text and not text.lower().startswith("failed to"):
                return text
        return ""


_llama_errors = _ErrorLog()


class _TokenCounter:
    """A stopping criterion that never stops: it counts sampled tokens (create_completion hides them)."""

    def __init__(self) -> None:
        self.sampled = 0

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        self.sampled += 1
        return False


class LlamaChatModel:
    """One loaded GGUF model. Not thread-safe: the engine process drives it from one thread."""

    sees_images = False

    def __init__(
        self,
        llm: llama_cpp.Llama,
        *,
        name: str,
        context_size: int,
        gpu_layers: int,
        prefix_reuse: bool,
        chat_template: str | None,
        load_s: float,
    ) -> None:
        self.llm = llm
        self.name = name
        self.context_size = context_size
        self.gpu_layers = gpu_layers
        self.prefix_reuse = prefix_reuse
        self.load_s = load_s
        self.accelerator = offload_report(llm)  # which backend runs it, and the layers on a GPU
        self._warned_fallback = False
        eos_id, bos_id = llm.token_eos(), llm.token_bos()
        self.eos_token = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
        self.bos_token = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
        self._bos_id = bos_id
        # Whether the vocabulary wants a BOS in front of the prompt (create_completion asks the same).
        self._add_bos = bool(llm._model.add_bos_token()) and bos_id != -1
        self._formatter = self._compile(chat_template)

    @classmethod
    def load(
        cls,
        path: Path,
        context_size: int = 4096,
        threads: int = 0,
        gpu_layers: int = -1,
        prefix_reuse: bool = True,
    ) -> LlamaChatModel:
        """Check the file, then load it; raises GGUFError/ModelError with a message for the user."""
        path = Path(path)
        info = gguf.preflight(path)  # before llama.cpp: a malformed header must never reach C code
        threads = threads if threads > 0 else physical_cores()
        layers = resolve_gpu_layers(gpu_layers)
        kwargs: dict[str, Any] = dict(
            model_path=str(path),
            n_ctx=context_size,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=layers,
            verbose=False,
        )
        started = time.perf_counter()
        _llama_errors.clear()
        try:
            try:
                llm = llama_cpp.Llama(**kwargs)
            except jinja2.TemplateError as error:
                logger.warning("Chat template in %s does not compile (%s); using ChatML", path.name, error)
                with _lenient_template_compilation():
                    llm = llama_cpp.Llama(**kwargs)
        except (ValueError, RuntimeError, OSError) as error:
            # llama-cpp-python's own error only says "Failed to load model from file"; llama.cpp logged
            # why (a missing tensor, a wrong shape, a missing key) just before.
            why = _llama_errors.reason() or str(error)
            raise ModelError(
                f"llama.cpp could not load {path.name}: {why}. The file may be damaged, or made for "
                "a newer version of llama.cpp than this app includes."
            ) from error
        load_s = time.perf_counter() - started
        logger.info(
            "Loaded %s in %.2f s (%d threads, gpu_layers=%d, n_ctx=%d)",
            path.name,
            load_s,
            threads,
            layers,
            context_size,
        )
        template = info.chat_template or llm.metadata.get("tokenizer.chat_template")
        return cls(
            llm,
            name=path.stem,
            context_size=context_size,
            gpu_layers=layers,
            prefix_reuse=prefix_reuse,
            chat_template=template,
            load_s=load_s,
        )

    def close(self) -> None:
        self.llm.close()

    # ---- tokens and prompt ------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def tokenize_prompt(self, prompt: str) -> list[int]:
        """Tokens exactly as create_completion would build them for a string prompt."""
        tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=self._add_bos, special=True)
        # Templates that write bos_token themselves would otherwise give two BOS tokens.
        if len(tokens) >= 2 and tokens[0] == tokens[1] == self._bos_id:
            tokens = tokens[1:]
        return tokens

    def _compile(self, template: str | None) -> Any | None:
        if not template:
            return None
        try:
            return _Jinja2ChatFormatter(
                template=template,
                eos_token=self.eos_token,
                bos_token=self.bos_token,
                add_generation_prompt=True,
            )
        except Exception as error:  # any compile failure means "use the fallback"
            logger.warning("Chat template of %s does not compile: %s", self.name, error)
            return None

    def render(self, messages: Sequence[ChatMessage]) -> tuple[str, str, list[str]]:
        """(prompt, "gguf" or "fallback", stop strings). Never raises for a bad template."""
        reason = "the model has no chat template"
        if self._formatter is not None:
            try:
                turns = [{"role": m.role, "content": m.content} for m in messages]
                with _time_limit(TEMPLATE_RENDER_LIMIT_S):
                    result = self._formatter(messages=turns)
                prompt = result.prompt
                if messages[-1].content.strip() in prompt:
                    stops = [s for s in [self.eos_token] if s]
                    if "<|im_end|>" in prompt:
                        stops += [s for s in CHATML_STOP if s not in stops]
                    return prompt, "gguf", stops
                reason = "its chat template dropped the message text"
            except Exception as error:  # SecurityError, UndefinedError, raise_exception...
                reason = f"its chat template failed: {type(error).__name__}: {error}"
                if isinstance(error, TemplateTooSlow):
                    self._formatter = None  # it would cost the same seconds on every prompt of this model
        if not self._warned_fallback:
            logger.warning("Using the ChatML fallback for %s: %s", self.name, reason)
            self._warned_fallback = True
        return render_chatml(messages), "fallback", list(CHATML_STOP)

    def prepare(
        self, messages: Sequence[ChatMessage], max_tokens: int
    ) -> tuple[FittedPrompt, list[int], str, list[str]]:
        """Trim history to fit, using this model's tokenizer; returns (fitted, tokens, template, stops).

        fit_to_context estimates per-message template overhead; when the rendered prompt is still
        over budget we shrink the target by the overshoot and refit. Raises PromptTooLong.
        """
        # Leave room for the answer, but never squeeze the prompt below half the window.
        budget = max(self.context_size - max_tokens, self.context_size // 2)
        target = budget
        for _attempt in range(4):
            fitted = fit_to_context(messages, self.count_tokens, target)
            prompt, template, stops = self.render(fitted.messages)
            tokens = self.tokenize_prompt(prompt)
            if len(tokens) <= budget:
                return fitted, tokens, template, stops
            target -= len(tokens) - budget + 16
            if target <= 0:
                break
        raise PromptTooLong(len(tokens), budget)

    # ---- generation -----------------------------------------------------------------------------

    def reused_prefix(self, tokens: Sequence[int]) -> int:
        """How many prompt tokens `Llama.generate()` will keep from the KV cache (mirrors its logic)."""
        cached = self.llm._input_ids  # tokens whose KV entries are in the cache right now
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        if common == len(tokens) and common == self.llm.n_tokens:
            return common  # the exact prompt is cached: generate() samples without evaluating
        # generate() replays one token when the whole prompt is a prefix of the cache.
        return common - 1 if common == len(tokens) and common > 0 else common

    def _evaluate(self, tokens: Sequence[int], start: int, end: int, should_stop: StopCheck) -> bool:
        """Evaluate tokens[start:end] into the KV cache a batch at a time, asking `should_stop` between
        batches (one `eval` call over a long prompt could not be stopped). False when stopped."""
        self.llm.n_tokens = start  # eval() drops the cache after this point and goes on from here
        step = max(1, self.llm.n_batch)
        for first in range(start, end, step):
            if should_stop():
                return False
            self.llm.eval(tokens[first:min(first + step, end)])
        return True

    def prefill(self, messages: Sequence[ChatMessage], options: GenerationOptions, should_stop: StopCheck,
                open_end: bool = False) -> int:
        """Evaluate the prompt a chat with these messages would send, and nothing more.

        Push-to-talk sends this while the key is still held, once the speaker pauses: when the
        question is then asked with the same messages, `generate()` finds the whole prompt in the
        KV cache and samples the first token at once. Returns the number of tokens evaluated.

        `open_end`: the last message is only its start (an image question's, evaluated while the
        image is read): the prompt is cut after its text. Evaluating the end-of-message tokens too
        would only overwrite cached tokens the real prompt may still share (llama.cpp drops the cache
        after the first token that differs).
        """
        if not self.prefix_reuse:
            return 0  # the chat would drop the cache anyway
        fitted, tokens, _, _ = self.prepare(messages, options.max_tokens)
        if open_end:
            tokens = self._up_to_last_text(fitted.messages, tokens)
            cached = self.llm._input_ids[: self.llm.n_tokens]
            if len(cached) >= len(tokens) and list(cached[: len(tokens)]) == tokens:
                return 0  # all there already (no logits are needed: nothing is sampled after a start)
        reuse = self.reused_prefix(tokens)
        if reuse >= len(tokens):
            return 0
        self._evaluate(tokens, reuse, len(tokens), should_stop)
        return self.llm.n_tokens - reuse

    def _up_to_last_text(self, messages: Sequence[ChatMessage], tokens: list[int]) -> list[int]:
        """The prompt's tokens up to the end of the last message's text (all of them when the template
        does not show that text verbatim). An empty last message (a question not yet spoken): up to
        where its text will begin, found by rendering a placeholder there."""
        if not messages:
            return tokens
        text = messages[-1].content
        if text:
            prompt, _, _ = self.render(messages)
            end = prompt.rfind(text)
            cut = end + len(text) if end >= 0 else -1
        else:
            placeholder = [*messages[:-1], dataclasses.replace(messages[-1], content=TEXT_PLACEHOLDER)]
            prompt, _, _ = self.render(placeholder)
            cut = prompt.rfind(TEXT_PLACEHOLDER)
        if cut < 0:
            return tokens
        start = self.tokenize_prompt(prompt[:cut])
        return start if start == tokens[: len(start)] else tokens

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        stats: GenerationStats,
        should_stop: StopCheck,
    ) -> Generator[str, None, None]:
        """Images in `messages` are ignored: their grounding text is in the message already."""
        started = time.perf_counter()
        fitted, tokens, template, stops = self.prepare(messages, options.max_tokens)
        stats.dropped_messages = fitted.dropped
        stats.template = template
        stats.prompt_tokens = len(tokens)
        if not self.prefix_reuse:
            # n_tokens = 0 makes the next eval drop the whole KV cache (kv_cache_seq_rm from 0).
            self.llm.reset()
        reuse = self.reused_prefix(tokens) if self.prefix_reuse else 0
        stats.reused_tokens = reuse
        # The prompt (all but its last token) is evaluated here in stoppable batches; generate() then
        # finds it in the cache and evaluates only the last token before sampling.
        if reuse < len(tokens) - 1 and not self._evaluate(tokens, reuse, len(tokens) - 1, should_stop):
            stats.total_s = time.perf_counter() - started
            return
        counter = _TokenCounter()
        stats.sampling = options.sampling()
        completion = self.llm.create_completion(
            tokens,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            top_p=options.top_p,
            top_k=options.top_k,
            min_p=options.min_p,
            repeat_penalty=options.repeat_penalty,
            seed=options.seed,
            stop=stops,
            stream=True,
            stopping_criteria=llama_cpp.StoppingCriteriaList([counter]),
        )
        finish: str | None = None
        try:
            for chunk in completion:
                choice = chunk["choices"][0]
                finish = choice.get("finish_reason") or finish
                text = choice["text"]
                if text:
                    if not stats.first_token_s:
                        stats.first_token_s = time.perf_counter() - started
                    yield text
                    if should_stop():
                        break
        finally:
            completion.close()  # leaves the Llama state consistent for the next prefix match
            # An end-of-generation token is sampled but is not part of the answer.
            stats.completion_tokens = max(0, counter.sampled - (1 if finish == "stop" else 0))
            stats.total_s = time.perf_counter() - started
