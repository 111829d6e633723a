"""A short speed test of a loaded chat model: prompt evaluation and decoding, as a chat would run them.

The first-run panel needs a number per model in seconds, not minutes, so the work is small and fixed:
one batch of `prompt_tokens` evaluated from an empty KV cache (what a new question costs), then
`decode_tokens` greedy tokens through `Llama.generate` — the same sampler loop `create_completion`
drives for a real answer. Decoding speed is taken between the first and the last token, like
`GenerationStats.decode_tokens_per_s`, so the one-off sampler set-up does not count.

A deadline bounds the time on a slow or busy machine: the prompt is evaluated in two halves and the
second is skipped once the deadline has passed; decoding stops there too, after at least two tokens
(the least a rate needs). The rates then come from less work, which is what they measure anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from assistant.engines.llama import LlamaChatModel

# Ordinary English prose: tokenizers split it the way they split a real question.
FILLER = (
    "A short note about planning a weekend trip: check the weather, pack a light jacket, bring water, "
    "leave early to avoid traffic, and keep a paper map in case the phone runs out of battery. "
)


@dataclass(frozen=True)
class SpeedSample:
    prompt_tokens: int
    prompt_s: float
    decode_tokens: int
    decode_s: float  # first to last decoded token

    @property
    def prompt_tokens_per_s(self) -> float:
        return self.prompt_tokens / self.prompt_s if self.prompt_s > 0 else 0.0

    @property
    def decode_tokens_per_s(self) -> float:
        if self.decode_tokens <= 1 or self.decode_s <= 0:
            return 0.0
        return (self.decode_tokens - 1) / self.decode_s


def prompt_of(model: LlamaChatModel, count: int) -> list[int]:
    """Exactly `count` tokens of prose (BOS first when the vocabulary wants one)."""
    text = FILLER
    tokens = model.tokenize_prompt(text)
    while len(tokens) < count:
        text += FILLER
        tokens = model.tokenize_prompt(text)
    return tokens[:count]


def measure(
    model: LlamaChatModel,
    prompt_tokens: int,
    decode_tokens: int,
    cancelled: Callable[[], bool],
    on_token: Callable[[int], None] = lambda _n: None,
    deadline: float | None = None,
) -> SpeedSample | None:
    """Prompt, then decode; None when `cancelled()` said so (checked between decoded tokens).
    `deadline` is a `time.perf_counter()` value."""
    if prompt_tokens + decode_tokens >= model.context_size:
        raise ValueError(f"a {prompt_tokens}+{decode_tokens}-token test does not fit {model.context_size}")
    llm = model.llm
    tokens = prompt_of(model, prompt_tokens)
    late = (lambda: time.perf_counter() > deadline) if deadline is not None else (lambda: False)
    llm.reset()  # an empty KV cache: the whole prompt is evaluated, as for a new conversation
    started = time.perf_counter()
    half = max(1, len(tokens) // 2)
    llm.eval(tokens[:half])  # each half is one batch, as a real prompt is (far below n_batch)
    if cancelled():
        return None
    if not late():
        llm.eval(tokens[half:])
    else:
        tokens = tokens[:half]
    prompt_s = time.perf_counter() - started
    if cancelled():
        return None
    # The prompt is in the cache exactly, so generate() samples at once and then decodes one by one.
    stream = llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0)
    first = last = 0.0
    count = 0
    try:
        for _token in stream:
            last = time.perf_counter()
            count += 1
            if count == 1:
                first = last
            on_token(count)
            if count >= decode_tokens or (count >= 2 and late()):
                break
            if cancelled():
                return None
    finally:
        stream.close()
    return SpeedSample(len(tokens), prompt_s, count, last - first)
