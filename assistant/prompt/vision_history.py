"""Which earlier images go back to a vision model with a follow-up question (pure Python, no model).

A follow-up ("and what colour is the button in that screenshot?") is only answerable if the model can
look at the screenshot again, so the images shared with earlier questions travel with the new request,
each attached to the message it was shared with. The rule, in two steps:

1. The session reads the message -> image mapping from the store (the image groundings of each user
   message, i.e. schema 2's `groundings` table, whose sha256 names the kept copy) and puts the
   `MAX_EARLIER_IMAGES` most recent ones on their messages (`ChatMessage.images`). Reading it from the
   store means a conversation reopened next week works the same as one still open.
2. The engine fits the text history into the context first (the newest question and its own images
   are always counted), then re-attaches earlier images whose message is still in the fitted window,
   newest first, while their tokens (counted by the projector for each image) fit in the context that
   is left and at most `MAX_EARLIER_IMAGES` are attached. History text is never dropped for an image.

Every image costs its full token count (576 for LLaVA 1.5, ~1,300 for Qwen2-VL at 1024 px) and is
encoded again on every turn (the vision handlers clear the KV cache for each question), hence the cap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

MAX_EARLIER_IMAGES = 4

# (index into a request's messages, kept copies of the images shared with that user message)
EarlierImages = tuple[tuple[int, tuple[str, ...]], ...]

T = TypeVar("T")


def most_recent(per_message: Sequence[tuple[int, Sequence[str]]], limit: int = MAX_EARLIER_IMAGES
                ) -> EarlierImages:
    """Keep only the `limit` most recent images (the engine can use no more), oldest first."""
    kept_images: list[tuple[int, tuple[str, ...]]] = []
    left = limit
    for index, paths in reversed(per_message):
        if left <= 0:
            break
        chosen = tuple(paths)[-left:]
        if chosen:
            kept_images.insert(0, (index, chosen))
            left -= len(chosen)
    return tuple(kept_images)


def in_fitted_window(earlier: Mapping[int, Sequence[T]], total: int, has_system: bool, dropped: int
                     ) -> dict[int, list[T]]:
    """The images whose message survived `fit_to_context`, re-indexed into the fitted messages.

    `fit_to_context` keeps the system message, drops the `dropped` oldest history messages and keeps
    the rest in order; `total` is the number of messages before fitting. Only earlier user messages
    can carry images here (the newest has its own).
    """
    first_kept = (1 if has_system else 0) + dropped
    return {index - dropped: list(items) for index, items in earlier.items()
            if first_kept <= index < total - 1 and items}


def choose(candidates: Mapping[int, Sequence[T]], cost: Callable[[T], int | None], room: int,
           limit: int = MAX_EARLIER_IMAGES) -> tuple[dict[int, list[T]], int]:
    """Pick images newest first while their cost fits `room` tokens and fewer than `limit` are picked.

    `cost` returns None for an image that cannot be used (unreadable kept copy): it is skipped. Stops
    at the first image that does not fit, so an older image never goes without a newer one.
    Returns (message index -> images in their original order, tokens used).
    """
    picked: dict[int, list[int]] = {}  # message index -> positions of its picked images
    used = 0
    count = 0
    for index in sorted(candidates, reverse=True):
        items = list(candidates[index])
        for position in reversed(range(len(items))):
            if count >= limit:
                return _in_order(picked, candidates), used
            tokens = cost(items[position])
            if tokens is None:
                continue
            if used + tokens > room:
                return _in_order(picked, candidates), used
            picked.setdefault(index, []).append(position)
            used += tokens
            count += 1
    return _in_order(picked, candidates), used


def _in_order(picked: dict[int, list[int]], candidates: Mapping[int, Sequence[T]]) -> dict[int, list[T]]:
    """Back to the order the user attached them in (they were picked last first)."""
    return {index: [candidates[index][p] for p in sorted(picked[index])] for index in sorted(picked)}
