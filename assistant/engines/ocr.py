"""OCR with RapidOCR: the PP-OCRv4 detector and recogniser (ONNX) inside the rapidocr-onnxruntime wheel.

Implements `protocols.TextReader`. The models ship in the wheel, so reading text needs no download and
no network. Settings differ from RapidOCR's defaults, which are tuned for photos of Chinese text;
ours are tuned for screenshots and documents in Latin script (measured in tests/engines/test_ocr.py):

- The detector sees the image at its own size, only shrunk to `max_side` (RapidOCR's default enlarges
  every image until its *short* side is 736 px: 3-5x the work for a wide screenshot, and at that
  scale lines break into single words).
- Text boxes are grown more before recognition (unclip 2.4 instead of 1.6): with a little margin the
  recogniser keeps the spaces between words, which it otherwise drops on small text.
- Lines are recognised one at a time (batch 1, not 6): a batch is padded to its widest line, and a
  screenshot mixes a 2-letter button with 100-character lines, so batching doubled the work.
- The 0/180 degree classifier is off unless asked for: on horizontal text it flipped whole lines
  upside down now and then, turning them into garbage, and it costs time on every line.

Importing this module imports onnxruntime and OpenCV: it belongs in the engine process (OpenCV's
wheel also points Qt at its own plugins, which must never happen in the window process).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image
from rapidocr_onnxruntime import RapidOCR

from assistant.images.ocr_text import tidy_line
from assistant.images.reading_order import reading_order_text
from assistant.images.safe_image import OCR_MAX_SIDE, fit_within
from assistant.models.catalog import ModelError
from assistant.protocols import ReadText, TextLine

logger = logging.getLogger(__name__)

UNCLIP_RATIO = 2.4


@dataclass(frozen=True)
class OcrOptions:
    threads: int = 0  # 0: automatic (the cores this process may use, at most 4)
    max_side: int = OCR_MAX_SIDE  # images are shrunk to this before detection
    min_confidence: float = 0.5  # lines the recogniser is less sure of are left out
    rotated_text: bool = False  # also read upside-down lines (photos of pages held the wrong way)


def default_threads() -> int:
    """onnxruntime gains little past a few threads on these small models; leave cores to the LLM."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, 4))


class RapidTextReader:
    """One loaded OCR pipeline. Not thread-safe: the engine process drives it from one thread."""

    name = "rapidocr-pp-ocrv4"

    def __init__(self, engine: RapidOCR, options: OcrOptions, threads: int, load_s: float) -> None:
        self._engine = engine
        self.options = options
        self.threads = threads
        self.load_s = load_s

    @classmethod
    def load(cls, options: OcrOptions | None = None) -> RapidTextReader:
        options = options or OcrOptions()
        threads = options.threads if options.threads > 0 else default_threads()
        started = time.perf_counter()
        try:
            engine = RapidOCR(
                use_cls=options.rotated_text,
                text_score=options.min_confidence,
                max_side_len=options.max_side,
                det_limit_type="max",
                det_limit_side_len=options.max_side,
                det_unclip_ratio=UNCLIP_RATIO,
                rec_batch_num=1,
                intra_op_num_threads=min(threads, os.cpu_count() or 1),
                inter_op_num_threads=1,
            )
        except Exception as exc:  # onnxruntime raises its own pybind classes; RapidOCR raises several
            raise ModelError(
                f"the OCR models of rapidocr-onnxruntime cannot be loaded ({type(exc).__name__}: {exc}); "
                "reinstall it with: pip install --force-reinstall rapidocr-onnxruntime==1.4.4"
            ) from exc
        load_s = time.perf_counter() - started
        logger.info("loaded OCR (%s, %d threads) in %.2f s", cls.name, threads, load_s)
        return cls(engine, options, threads, load_s)

    def read(self, image: Any) -> ReadText:
        """Read an RGB PIL image (as `safe_image` returns it); boxes come back in its pixels."""
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected a PIL image, got {type(image).__name__}")
        started = time.perf_counter()
        small = fit_within(image.convert("RGB") if image.mode != "RGB" else image, self.options.max_side)
        scale = image.width / small.width
        # A PIL image (not a numpy array): RapidOCR then converts RGB to the BGR its models expect.
        result, _elapsed = self._engine(small)
        lines = tuple(_line(item, scale) for item in result or ())
        lines = tuple(line for line in lines if line.text)
        seconds = time.perf_counter() - started
        logger.debug("OCR read %d lines in %.2f s", len(lines), seconds)
        return ReadText(lines=lines, text=reading_order_text(lines), seconds=seconds)


def _line(item: list[Any], scale: float) -> TextLine:
    """One RapidOCR result `[box, text, score]` as a TextLine in the caller's image pixels."""
    box, text, score = item[0], item[1], item[2]
    corners = tuple((float(x) * scale, float(y) * scale) for x, y in box)
    return TextLine(text=tidy_line(str(text)), box=corners, confidence=float(score))  # type: ignore[arg-type]
