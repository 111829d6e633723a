"""Questions about an image for a text-only model: what perception found, clearly delimited.

Pure functions (no model, no Qt), the image twin of `audio_question`. The chat model cannot see pixels,
so it gets what the engine process read in the image (OCR text in reading order) and, when a CLIP model
is installed, the labels the image most resembles. The block says plainly that this text was *read
from* the image named X, so the model neither takes it for the user's words nor claims to see more.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_QUESTION = "Describe this image."
IMAGE_INSTRUCTION = "Answer using what was read from the image above."
NO_TEXT = "(no text was found in the image)"
# Labels less likely than this say more about the vocabulary than about the image.
MIN_LABEL_PROBABILITY = 0.05
MAX_LABELS = 5


def format_labels(labels: Sequence[tuple[str, float]]) -> str:
    """'screenshot (72%), dialog box (11%)': the likely ones, best first."""
    kept = [(label, p) for label, p in labels if p >= MIN_LABEL_PROBABILITY][:MAX_LABELS]
    return ", ".join(f"{label} ({p:.0%})" for label, p in kept)


def image_block(text: str, labels: Sequence[tuple[str, float]], file_name: str) -> str:
    """The OCR text between markers, then (with CLIP) what the image looks like."""
    body = text.strip() or NO_TEXT
    block = f"Text read from the image {file_name} (OCR, in reading order):\n<<<\n{body}\n>>>"
    described = format_labels(labels)
    if described:
        block += f"\nThe image {file_name} looks like (zero-shot labels, most likely first): {described}"
    return block


def shown_text(text: str, labels: Sequence[tuple[str, float]]) -> str:
    """What the "What the model was told" panel and exports show for an image."""
    body = text.strip() or NO_TEXT
    described = format_labels(labels)
    return f"{body}\n\nLooks like: {described}" if described else body
