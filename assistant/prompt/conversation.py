"""Fitting a conversation into a model's context window (pure functions, no model needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.protocols import ChatMessage

# Chat templates wrap each message in role markers (ChatML: "<|im_start|>user\n" … "<|im_end|>\n").
# Counting them per message keeps the estimate on the safe side without rendering the template.
PER_MESSAGE_OVERHEAD_TOKENS = 8

# A cheap upper bound used before tokenizing: no tokenizer we ship packs more than ~6 chars per token
# on average for natural text, so anything longer than this many chars per token of budget is refused
# without spending seconds tokenizing a megabyte.
MAX_CHARS_PER_TOKEN = 6


class PromptTooLong(Exception):
    """The newest message alone does not fit the context window."""

    def __init__(self, tokens: int, budget: int) -> None:
        self.tokens = tokens
        self.budget = budget
        super().__init__(
            f"Your message is too long for this model: it takes about {tokens:,} tokens but the "
            f"context window leaves room for {budget:,}. Shorten it, split it into parts, or raise "
            "the context size in Settings."
        )


@dataclass(frozen=True)
class FittedPrompt:
    messages: tuple[ChatMessage, ...]
    dropped: int  # how many history messages were left out
    tokens: int  # estimated prompt tokens


def fit_to_context(
    messages: Sequence[ChatMessage],
    count_tokens: Callable[[str], int],
    budget: int,
) -> FittedPrompt:
    """Keep the system prompt and the newest message; add history newest-first while it fits.

    History is dropped in whole user/assistant pairs from the oldest end so the model never sees an
    answer without its question. Raises PromptTooLong when system + newest alone exceed `budget`.
    """
    if not messages:
        raise ValueError("no messages")
    system = [m for m in messages[:1] if m.role == "system"]
    rest = list(messages[len(system) :])
    newest, history = rest[-1], rest[:-1]

    if len(newest.content) > budget * MAX_CHARS_PER_TOKEN:
        raise PromptTooLong(len(newest.content) // MAX_CHARS_PER_TOKEN, budget)

    def cost(message: ChatMessage) -> int:
        return count_tokens(message.content) + PER_MESSAGE_OVERHEAD_TOKENS

    used = sum(cost(m) for m in system) + cost(newest)
    if used > budget:
        raise PromptTooLong(used, budget)

    kept: list[ChatMessage] = []
    index = len(history)
    while index > 0:
        # Take the newest remaining exchange (assistant answer plus the question before it).
        start = index - 1
        if history[start].role == "assistant" and start > 0:
            start -= 1
        chunk = history[start:index]
        chunk_cost = sum(cost(m) for m in chunk)
        if used + chunk_cost > budget:
            break
        kept[:0] = chunk
        used += chunk_cost
        index = start
    return FittedPrompt(tuple(system + kept + [newest]), dropped=index, tokens=used)
