"""Questions about an image for a text-only model: what perception found, clearly delimited.

Pure functions (no model, no Qt), the image twin of `audio_question`. The chat model cannot see pixels,
so it gets what the engine process read in the image (OCR text in reading order), the ImageNet
classifier's guesses when the image is a photo (little or no text), and, when a CLIP model is
installed, the labels the image most resembles. The block says plainly that this text was *read
from* the image, so the model neither takes it for the user's words nor claims to see more; guesses
come with their probabilities and are called guesses.

The image's file name is not in the prompt: a small model reads meaning into it ("chelsea.png" was
answered "Chelsea"). One image is "the image"; several are "image 1", "image 2"... in the order
attached. The user still sees the names under "What the model was told" (`Grounding.heading`).

When nothing usable was found (no text, no confident guess or label) and the chat model cannot see
images, the app answers itself (`cannot_see_reply`): what it could and could not see, and the
one-click models that would see more, instead of letting a model invent a description.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_QUESTION = "Describe this image."
IMAGE_INSTRUCTION = "Answer using what was read from the image above."  # wording checked: see README
NO_TEXT = "(no text was found in the image)"
# Labels less likely than this say more about the vocabulary than about the image.
MIN_LABEL_PROBABILITY = 0.05
MAX_LABELS = 5
# The classifier's best guess must be at least this likely to be worth stating. On the real photos of
# `assistant bench vision --parts photos` the right answers came at 0.38 (a cat), 0.48 (a rocket as
# "missile"), 0.49 (a motorcycle as "moped"), 0.95 (espresso); the wrong ones at 0.16 (the astronaut:
# "football helmet"; ImageNet has no people) and 0.25 (a horse's silhouette as a dog).
CONFIDENT_GUESS = 0.3
# The same for CLIP's zero-shot labels (over `resources/clip_labels.txt`).
CONFIDENT_LABEL = 0.3
# With this much text read, the image is a screenshot or a page: its text says what it is, and the
# classifier's guesses for it ("website", "menu", "monitor") would only cost tokens.
TEXT_IMAGE_CHARS = 120
# An OCR read less sure than this (`ReadText.confidence`) is poor: on `assistant bench vision --parts
# ocr`'s sets every page read at 90 % or better scored at least 0.93, and the pages that lost words
# (blurred small print, a photo of a page) scored under it.
POOR_READ = 0.85
GUESSES_INTRO = ("An image classifier's guesses at what {where} shows (it knows 1000 kinds of everyday "
                 "objects, animals and foods, but not people; uncertain, with its confidence): ")
GUESSES_OUTRO = ". Give them as guesses, not as what it certainly shows."


@dataclass(frozen=True)
class Offer:
    """A model the user could install to see more: its catalogue name, what it does, its download."""

    name: str
    what: str
    size: str


def format_labels(labels: Sequence[tuple[str, float]]) -> str:
    """'screenshot (72%), dialog box (11%)': the likely ones, best first."""
    kept = [(label, p) for label, p in labels if p >= MIN_LABEL_PROBABILITY][:MAX_LABELS]
    return ", ".join(f"{label} ({p:.0%})" for label, p in kept)


def is_photo(text: str) -> bool:
    """Little or no text: the image's content is not its words."""
    return len(text.strip()) < TEXT_IMAGE_CHARS


def stated_guesses(text: str, guesses: Sequence[tuple[str, float]]) -> str:
    """The classifier's guesses worth telling the model ('' when the image is text, or unsure)."""
    if not guesses or not is_photo(text) or guesses[0][1] < CONFIDENT_GUESS:
        return ""
    return format_labels(guesses)


def recognised(text: str, labels: Sequence[tuple[str, float]], guesses: Sequence[tuple[str, float]]) -> bool:
    """Something usable was found: text, a confident CLIP label, or a confident guess."""
    if text.strip():
        return True
    if labels and labels[0][1] >= CONFIDENT_LABEL:
        return True
    return bool(guesses) and guesses[0][1] >= CONFIDENT_GUESS


def poor_read(confidence: float | None) -> bool:
    """The OCR was unsure of the text it read (None: no text, nothing to be unsure of)."""
    return confidence is not None and confidence < POOR_READ


def block_start(where: str = "the image") -> str:
    """How an image's block begins, before anything is read: the engine evaluates the prompt up to here
    while it reads the image (`GroundingJob`, `PerceiveRequest.prefill`)."""
    return f"Text read from {where} (OCR, in reading order):\n<<<\n"


def image_block(text: str, labels: Sequence[tuple[str, float]], guesses: Sequence[tuple[str, float]] = (),
                where: str = "the image", confidence: float | None = None) -> str:
    """The OCR text between markers, then (for a photo) the classifier's guesses, then (with CLIP)
    what the image looks like. `where` names the image: "the image", or "image 2" of several. A poor
    read (`confidence` under POOR_READ) is said to be one, so the model neither trusts nor quotes it
    blindly."""
    block = f"{block_start(where)}{text.strip() or NO_TEXT}\n>>>"
    if text.strip() and poor_read(confidence):
        block += (f"\nThe OCR was unsure of this text (confidence {confidence:.0%}): some words may be "
                  "misread; say so when the answer depends on them.")
    guessed = stated_guesses(text, guesses)
    if guessed:
        block += "\n" + GUESSES_INTRO.format(where=where) + guessed + GUESSES_OUTRO
    elif not text.strip() and guesses:
        block += f"\nThe app could not tell what {where} shows (no confident guess)."
    described = format_labels(labels)
    if described:
        block += f"\nWhat {where} looks like to CLIP (zero-shot labels, most likely first): {described}"
    return block


def shown_text(text: str, labels: Sequence[tuple[str, float]],
               guesses: Sequence[tuple[str, float]] = (), confidence: float | None = None) -> str:
    """What the "What the model was told" panel and exports show for an image."""
    body = text.strip() or NO_TEXT
    parts = [body]
    if text.strip() and poor_read(confidence):
        parts.append(f"Read with low confidence ({confidence:.0%}): some words may be wrong.")
    guessed = format_labels(guesses)
    if guessed:
        told = "told to the model" if stated_guesses(text, guesses) else "too unsure to tell the model"
        parts.append(f"Guesses ({told}): {guessed}")
    described = format_labels(labels)
    if described:
        parts.append(f"Looks like: {described}")
    return "\n\n".join(parts)


def cannot_see_reply(guesses: Sequence[Sequence[tuple[str, float]]], clip_labels: bool,
                     offers: Sequence[Offer]) -> str:
    """The app's own answer when nothing usable was found in any of the images (one entry of
    `guesses` per image) and the chat model cannot see images: what it can and cannot see, and what
    to install. `clip_labels`: a CLIP model was installed and was unsure too."""
    several = len(guesses) > 1
    this = "these images show" if several else "this image shows"
    clip = " (and CLIP names what an image looks like)" if clip_labels else ""
    lines = [
        f"I can't tell what {this}. I can't see pictures myself: the app reads the text in an image and "
        f"recognises some everyday objects, animals and foods{clip}, and passes that on to me.",
    ]
    found = "it found no text" if not several else "it found no text in them"
    unsure = [format_labels(g) for g in guesses if g]
    if unsure:
        best = "; ".join(unsure)
        lines.append(f"Here {found}, and its recogniser was unsure (best guesses: {best}), so I won't guess.")
    else:
        lines.append(f"Here {found} and recognised nothing, so I won't guess.")
    if offers:
        lines.append("")
        lines.append("To have images described, add a model that can see them (one click in Models ▸ Manage "
                     "models ▸ Recommended ▸ Get, or on the command line):")
        lines.extend(f"- **{o.name}**: {o.what} ({o.size}): `assistant models install {o.name}`"
                     for o in offers)
    return "\n".join(lines)
