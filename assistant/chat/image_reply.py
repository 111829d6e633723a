"""When the images of a question cannot be told apart from noise: the app answers instead of a model.

A text-only chat model given "no text, and a classifier 16 % sure it is a football helmet" invents a
description. So when every attachment is an image, none of them gave text, a confident guess or a
confident CLIP label, and the chosen chat model cannot see images, the question gets the app's own
answer (`GroundedQuestion.reply`): what it could and could not see, and the recommended downloads
that would see more, each one click (Models ▸ Manage models ▸ Recommended) or one command away. The
words are in `prompt/image_question.cannot_see_reply`; this module decides when, and which models to
offer (from the catalogue: the vision pick, and CLIP unless one is installed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from assistant.clip.folder import installed_models
from assistant.models.catalog import READY, ModelEntry, load_catalog, model_status
from assistant.models.fit import resolve_chat_model
from assistant.models.vision_pairing import chat_model_pair
from assistant.prompt import image_question
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding
from assistant.protocols import ModelError
from assistant.settings import Settings

logger = logging.getLogger(__name__)

ANSWERED_BY = "the app: nothing recognisable in the image"
WHAT_FOR = {"chat": "describes images and answers questions about them",
            "clip": "names what an image looks like and finds your images by text"}


def cannot_see(attachments: Sequence[Attachment], groundings: Sequence[Grounding], settings: Settings,
               data_dir: Path) -> str | None:
    """The app's reply when nothing in the question's images was recognised; None when a model should
    answer (some text or a confident label, other attachments, or a model that sees images)."""
    images = [g for g in groundings if g.kind == "image"]
    if not images or any(a.kind != "image" for a in attachments) or len(groundings) != len(images):
        return None
    if any(image_question.recognised(g.text, g.labels, g.guesses) for g in images):
        return None
    try:
        if chat_model_pair(resolve_chat_model(settings.model, data_dir), data_dir) is not None:
            return None  # the model gets the images themselves
    except (ModelError, OSError) as error:  # a broken models folder: the model cannot see then either
        logger.warning("Could not tell whether the chat model sees images: %s", error)
    clip = bool(installed_models(data_dir))
    return image_question.cannot_see_reply([g.guesses for g in images], clip, offers(data_dir, clip))


def offers(data_dir: Path, clip_installed: bool) -> list[image_question.Offer]:
    """The recommended downloads that see images and are not installed yet: a vision model first (it
    describes), then CLIP (labels and image search)."""
    try:
        entries = [e for e in load_catalog() if e.source == "hub" and "test" not in e.tags]
    except ModelError as error:
        logger.warning("No models to offer: %s", error)
        return []
    vision = [e for e in entries if e.role == "chat" and e.projector is not None]
    clip = [] if clip_installed else [e for e in entries if e.role == "clip"]
    return [image_question.Offer(e.name, WHAT_FOR[e.role], _size(e)) for e in vision + clip
            if model_status(e, data_dir) != READY]


def _size(entry: ModelEntry) -> str:
    if not entry.size:
        return "download"
    return f"{entry.size / 1e9:.1f} GB download"
