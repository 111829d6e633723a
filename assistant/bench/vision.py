"""`assistant bench vision`: what reading an image costs, part by part.

Parts (run all, or pick with `--parts ocr,...`); each prints its own lines:

- ocr: a 1920x1080 screenshot drawn with Pillow (text editor, error dialog, taskbar), saved as PNG.
  The app's path (safe decode of the file + `RapidTextReader.read`) against a baseline measured in
  the same run: RapidOCR with its default settings on the same file. Medians of `--runs` after one
  warm-up; character accuracy for both, so a faster setting that reads worse shows up. Then, per set
  (`vision_ocr`): screenshots, real scans, photos of pages and synthetic scans, characters read in
  reading order, app vs RapidOCR's defaults on the file as given and converted; `--tune` reads the
  tuning pages instead, `--screenshot-only` skips the sets.

- drop: what a user waits for after dropping a screenshot and asking about it, through the real
  engine process with the default models: drop -> first answer token, the image read and the prompt
  evaluated one after the other (as before issue 14) against the prompt's start evaluated while the
  image is read, alternating in the same run; `--after S`: typing for S seconds after the drop, with and
  without the prefill while typing (see `assistant.bench.vision_drop`).

- photos: what the app guesses real photos show (the ImageNet classifier through the engine process)
  against the classifier's raw PyTorch output on the same files (see `assistant.bench.vision_photos`).

- clip, search: CLIP image embedding, app path vs OpenCLIP torch eager, and the image library's top-10
  scan over 100,000 embeddings (see `assistant.bench.vision_clip`).

A benchmark imports the libraries it measures against (RapidOCR's defaults here, torch in
`vision_clip`) on purpose, inside the part that needs them: it runs in its own process on demand,
never in the window, so the engines/-only rule for ML libraries does not apply to the baselines.
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
    from assistant.bench.vision_ocr import bench_ocr_sets

    sets = [] if args.screenshot_only else ["", *bench_ocr_sets(args)]
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
        *sets,
    ]


def _bench_drop(args: argparse.Namespace) -> list[str]:
    from assistant.bench.vision_drop import bench_drop

    return bench_drop(args)


def _bench_clip(args: argparse.Namespace) -> list[str]:
    from assistant.bench.vision_clip import bench_clip

    return bench_clip(args)


def _bench_search(args: argparse.Namespace) -> list[str]:
    from assistant.bench.vision_clip import bench_search

    return bench_search(args)


def _bench_photos(args: argparse.Namespace) -> list[str]:
    from assistant.bench.vision_photos import bench_photos

    return bench_photos(args)


PARTS: dict[str, Part] = {"ocr": _bench_ocr, "drop": _bench_drop, "clip": _bench_clip,
                          "search": _bench_search, "photos": _bench_photos}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench vision")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from: {', '.join(PARTS)}")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="OCR threads, and the chat model's in 'drop' (default: automatic)")
    parser.add_argument("--model", default="", metavar="NAME",
                        help="'drop': the chat model (default: the automatic choice, as the app makes it)")
    parser.add_argument("--after", type=float, default=0.0, metavar="S",
                        help="'drop': the user types for S seconds after the drop before sending; the "
                        "image is perceived meanwhile, as in the window (default: 0, sent at once)")
    parser.add_argument("--tune", action="store_true",
                        help="'ocr': read the tuning pages instead of the measuring sets")
    parser.add_argument("--screenshot-only", action="store_true",
                        help="'ocr': only the screenshot's timing, not the per-set accuracy")
    args = parser.parse_args(argv)
    chosen = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    for part in chosen:
        for line in PARTS[part](args):
            print(line, flush=True)
    return 0
