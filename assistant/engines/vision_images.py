"""Images on their way into a vision model: PNG data URIs, their token counts, and which earlier images
go back with a follow-up (the rule is in `assistant/prompt/vision_history.py`).

Token counts depend on the projector (576 for LLaVA 1.5, 256 for Gemma 3, a function of the image's
size for Qwen2-VL), so they are measured, not guessed: llama.cpp's mtmd tokenizes the image alone,
which preprocesses it (resize, tiling) without running the vision encoder. Kept copies are named by
their content, so a count is cached by the image's sha256 and a screenshot sent again is counted once.
"""

from __future__ import annotations

import base64
import ctypes
import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.images.errors import ImageError
from assistant.images.safe_image import DecodedImage, open_image
from assistant.prompt import vision_history

logger = logging.getLogger(__name__)

VISION_MAX_SIDE = 1024  # Qwen2-VL spends ~1,300 tokens on a 1024 px square; LLaVA shrinks to 336 anyway
FALLBACK_IMAGE_TOKENS = 768  # a handler without mtmd: LLaVA's 576 plus room for its wrapping text


def image_png(image: DecodedImage) -> bytes:
    """PNG, so screenshots keep sharp text; stb_image in llama.cpp decodes it."""
    buffer = io.BytesIO()
    image.image.save(buffer, format="PNG", compress_level=1)  # level 1: 5x faster, ~10 % larger
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class ImageTokenCounter:
    """Counts with the handler's mtmd context (which `VisionChatModel.load` initialised eagerly)."""

    def __init__(self, handler: Any, marker: str, cache_size: int = 64) -> None:
        self.handler = handler
        self.marker = marker
        self.cache: dict[str, int] = {}
        self.cache_size = cache_size

    def count(self, sha256: str, png: bytes) -> int:
        """Tokens the image (as these PNG bytes) takes, wrapping tokens included; never raises."""
        cached = self.cache.get(sha256)
        if cached is not None:
            return cached
        try:
            tokens = self._measure(png)
        except (ValueError, AttributeError, OSError) as error:  # another handler layout: stay safe
            logger.warning("Cannot count image tokens (%s); assuming %d", error, FALLBACK_IMAGE_TOKENS)
            tokens = None
        if tokens is None:
            return FALLBACK_IMAGE_TOKENS
        if len(self.cache) >= self.cache_size:
            self.cache.pop(next(iter(self.cache)))  # the oldest entry: a long chat with many images
        self.cache[sha256] = tokens
        return tokens

    def _measure(self, png: bytes) -> int | None:
        mtmd = getattr(self.handler, "_mtmd_cpp", None)
        context = getattr(self.handler, "mtmd_ctx", None)
        if mtmd is None or context is None:
            return None
        bitmap = self.handler._create_bitmap_from_bytes(png)
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            text = mtmd.mtmd_input_text()
            encoded = self.marker.encode("utf-8")
            text.text, text.text_len = encoded, len(encoded)
            text.add_special, text.parse_special = False, True
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            if mtmd.mtmd_tokenize(context, chunks, ctypes.byref(text), bitmaps, 1) != 0:
                return None
            return sum(mtmd.mtmd_input_chunk_get_n_tokens(mtmd.mtmd_input_chunks_get(chunks, i))
                       for i in range(mtmd.mtmd_input_chunks_size(chunks)))
        finally:
            if chunks is not None:
                mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)


def earlier_image_urls(counter: ImageTokenCounter, candidates: Mapping[int, Sequence[Path | str]], room: int
                       ) -> tuple[dict[int, list[str]], int]:
    """Data URIs of the earlier images to re-attach (by message index) and their tokens, chosen by
    `vision_history.choose`. A kept copy that cannot be read any more is skipped: the follow-up still
    goes out, with that image's grounding text."""
    pngs: dict[str, bytes] = {}

    def cost(path: Path | str) -> int | None:
        try:
            image = open_image(path, max_side=VISION_MAX_SIDE)
        except ImageError as error:
            logger.warning("An earlier image is not sent again: %s", error)
            return None
        pngs[str(path)] = image_png(image)
        return counter.count(image.sha256, pngs[str(path)])

    chosen, tokens = vision_history.choose(candidates, cost, room)
    return {index: [png_data_uri(pngs[str(p)]) for p in paths] for index, paths in chosen.items()}, tokens
