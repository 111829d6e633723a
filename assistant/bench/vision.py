"""`assistant bench vision`: what reading an image costs, part by part.

Parts (run all, or pick with `--parts ocr,...`); each prints its own lines:

- ocr: a 1920x1080 screenshot drawn with Pillow (text editor, error dialog, taskbar), saved as PNG.
  The app's path (safe decode of the file + `RapidTextReader.read`) against a baseline measured in
  the same run: RapidOCR with its default settings on the same file. Medians of `--runs` after one
  warm-up; character accuracy for both, so a faster setting that reads worse shows up.

CLIP parts plug in the same way: write `def _bench_clip(args) -> list[str]` and add it to PARTS.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from assistant.bench.text_images import element_accuracy, render_screenshot
from assistant.images.safe_image import OCR_MAX_SIDE, open_image
from assistant.protocols import TextLine

Part = Callable[[argparse.Namespace], list[str]]


def _median_time(action: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median seconds over `runs` calls after one warm-up call, and the last result."""
    result = action()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def _bench_ocr(args: argparse.Namespace) -> list[str]:
    from rapidocr_onnxruntime import RapidOCR  # the baseline, as its README shows it

    from assistant.engines.ocr import OcrOptions, RapidTextReader

    image, elements = render_screenshot((1920, 1080))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "screenshot.png"
        image.save(path)
        started = time.perf_counter()
        reader = RapidTextReader.load(OcrOptions(threads=args.threads))
        load_s = time.perf_counter() - started
        decode_s, _ = _median_time(lambda: open_image(path, max_side=OCR_MAX_SIDE), args.runs)
        app_s, read = _median_time(lambda: reader.read(open_image(path, max_side=OCR_MAX_SIDE).image),
                                   args.runs)
        app_lines = read.lines  # type: ignore[attr-defined]

        threads = {"intra_op_num_threads": reader.threads} if args.threads else {}
        raw = RapidOCR(**threads)
        raw_s, raw_result = _median_time(lambda: raw(str(path)), args.runs)
    raw_lines = [TextLine(str(text), tuple(map(tuple, box)), float(score))  # type: ignore[arg-type]
                 for box, text, score in (raw_result[0] or [])]  # type: ignore[index]
    app_acc, raw_acc = element_accuracy(elements, app_lines), element_accuracy(elements, raw_lines)
    return [
        f"OCR, 1920x1080 screenshot PNG ({len(elements)} text elements), {reader.threads} threads, "
        f"median of {args.runs}",
        f"  model load                                {load_s * 1000:7.0f} ms",
        f"  safe decode of the PNG                    {decode_s * 1000:7.0f} ms",
        f"  app: decode + read                        {app_s * 1000:7.0f} ms  "
        f"({len(app_lines)} lines, character accuracy {app_acc:.1%})",
        f"  baseline: RapidOCR defaults on the file   {raw_s * 1000:7.0f} ms  "
        f"({len(raw_lines)} lines, character accuracy {raw_acc:.1%})",
        f"  app / baseline                            {app_s / raw_s:7.2f}x",
    ]


PARTS: dict[str, Part] = {"ocr": _bench_ocr}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench vision")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from: {', '.join(PARTS)}")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="OCR threads (default: automatic)")
    args = parser.parse_args(argv)
    chosen = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    for part in chosen:
        for line in PARTS[part](args):
            print(line, flush=True)
    return 0
