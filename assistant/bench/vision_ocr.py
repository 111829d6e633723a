"""`assistant bench vision --parts ocr`: the app's OCR against plain RapidOCR, per set, in one run.

Sets (the measuring sets never served to choose a setting; `--tune` runs the tuning set instead):

- screenshots: the rendered 1920x1080 desktop and the error dialog (`text_images`), scored per
  region (`element_accuracy`, order-free, as before) because a desktop has no single reading order.
- real scans: files made by others with hand-checked text (`scan_pages.real_files`): the issue's
  two-column 300-dpi brochure and a typewritten page from ocrmypdf's test resources.
- photos of pages: scikit-image's `page.png`, a photographed book page.
- synthetic scans: two-column pages with small print at 300 dpi, rotated, blurred, noisy, JPEG
  (`scan_pages.synthetic_scan`), measuring seeds and angles only.

Each file is read three ways in the same process: the app (safe decode as the engine process does it,
then `RapidTextReader.read`), RapidOCR with its defaults on the file as given (its path), and RapidOCR
with its defaults on the image converted to RGB and shrunk to at most 2000 px (what a user had to do
to make it read the brochure at all). Scores are characters read right in reading order
(`scan_pages.reading_accuracy`); the app's read confidence is printed beside them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.bench.scan_pages import (
    MEASURING_PHOTO_SEEDS,
    MEASURING_SEEDS,
    TUNING_PHOTO_SEEDS,
    TUNING_SEEDS,
    ScanPage,
    reading_accuracy,
    real_files,
    synthetic_photo,
    synthetic_scan,
)
from assistant.bench.text_images import element_accuracy, render_error_dialog, render_screenshot
from assistant.images.safe_image import STORAGE_MAX_SIDE, open_image
from assistant.protocols import TextLine

RAW_CONVERTED_SIDE = 2000  # RapidOCR's own max_side_len


@dataclass
class _Score:
    name: str
    app: float
    raw: float
    converted: float
    app_s: float
    raw_s: float
    confidence: float | None


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _raw_text(result: Any) -> tuple[str, list[TextLine]]:
    """RapidOCR's answer as its users read it: the lines in the order it returns them."""
    items = (result[0] if result else None) or []
    lines = [TextLine(str(text), tuple(map(tuple, box)), float(score))  # type: ignore[arg-type]
             for box, text, score in items]
    return "\n".join(line.text for line in lines), lines


def _converted(path: Path) -> Any:
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    rgb.thumbnail((RAW_CONVERTED_SIDE, RAW_CONVERTED_SIDE))
    return rgb


def _measure(reader: Any, raw: Any, name: str, path: Path, text: str) -> _Score:
    app_s, read = _timed(lambda: reader.read(open_image(path, max_side=STORAGE_MAX_SIDE).image))
    raw_s, raw_result = _timed(lambda: raw(str(path)))
    converted_result = raw(_converted(path))
    return _Score(name, reading_accuracy(text, read.text), reading_accuracy(text, _raw_text(raw_result)[0]),
                  reading_accuracy(text, _raw_text(converted_result)[0]), app_s, raw_s, read.confidence)


def _screenshots(reader: Any, raw: Any, folder: Path) -> list[_Score]:
    scores = []
    for name, (image, elements) in (("full-HD desktop", render_screenshot((1920, 1080))),
                                    ("error dialog", render_error_dialog())):
        path = folder / f"{name.replace(' ', '-')}.png"
        image.save(path)
        app_s, read = _timed(lambda p=path: reader.read(open_image(p, max_side=STORAGE_MAX_SIDE).image))
        raw_s, raw_result = _timed(lambda p=path: raw(str(p)))
        converted = raw(_converted(path))
        scores.append(_Score(name, element_accuracy(elements, read.lines),
                             element_accuracy(elements, _raw_text(raw_result)[1]),
                             element_accuracy(elements, _raw_text(converted)[1]), app_s, raw_s,
                             read.confidence))
    return scores


def _synthetic(reader: Any, raw: Any, folder: Path, pages: list[ScanPage]) -> list[_Score]:
    scores = []
    for index, page in enumerate(pages):
        path = folder / f"synthetic-{index}.jpg"
        page.image.save(path, quality=92)  # already JPEG-degraded; saved near-losslessly as a file
        scores.append(_measure(reader, raw, page.name, path, page.text))
    return scores


def _table(title: str, scores: list[_Score]) -> list[str]:
    lines = [f"  {title}", f"    {'file':30s} {'app':>6s} {'raw':>6s} {'raw conv':>8s} {'conf':>5s}"
             f" {'app s':>6s} {'raw s':>6s}"]
    for score in scores:
        confidence = f"{score.confidence:.2f}" if score.confidence is not None else "  -  "
        lines.append(f"    {score.name:30s} {score.app:6.1%} {score.raw:6.1%} {score.converted:8.1%} "
                     f"{confidence:>5s} {score.app_s:6.2f} {score.raw_s:6.2f}")
    if len(scores) > 1:
        lines.append(f"    {'mean':30s} {statistics.mean(s.app for s in scores):6.1%} "
                     f"{statistics.mean(s.raw for s in scores):6.1%} "
                     f"{statistics.mean(s.converted for s in scores):8.1%}")
    return lines


def bench_ocr_sets(args: argparse.Namespace) -> list[str]:
    from rapidocr_onnxruntime import RapidOCR  # the baseline, as its README shows it

    from assistant.engines.ocr import OcrOptions, RapidTextReader

    reader = RapidTextReader.load(OcrOptions(threads=args.threads))
    raw = RapidOCR(**({"intra_op_num_threads": reader.threads} if args.threads else {}))
    out = [f"OCR character accuracy in reading order, app vs RapidOCR defaults ('raw': the file as given; "
           f"'raw conv': converted to RGB, at most {RAW_CONVERTED_SIDE} px), {reader.threads} threads"]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if getattr(args, "tune", False):
            tuning = [synthetic_scan(seed) for seed in TUNING_SEEDS]
            photos = [synthetic_photo(seed) for seed in TUNING_PHOTO_SEEDS]
            return [*out, *_table("TUNING set: synthetic scans", _synthetic(reader, raw, folder, tuning)),
                    *_table("TUNING set: synthetic photos of pages", _synthetic(reader, raw, folder, photos))]
        out += _table("screenshots (per-region accuracy, order-free)", _screenshots(reader, raw, folder))
        real = real_files(folder)
        scans = [_measure(reader, raw, n, path, text) for n, path, text, kind in real if kind == "real scan"]
        out += _table("real scans" if scans else "real scans: none found on this machine", scans)
        photos = [_measure(reader, raw, n, path, text) for n, path, text, kind in real if kind != "real scan"]
        photos += _synthetic(reader, raw, folder, [synthetic_photo(seed) for seed in MEASURING_PHOTO_SEEDS])
        out += _table("photos of pages (real, then synthetic)", photos)
        out += _table("synthetic scans", _synthetic(reader, raw, folder,
                                                    [synthetic_scan(seed) for seed in MEASURING_SEEDS]))
    return out

