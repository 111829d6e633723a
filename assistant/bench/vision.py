"""`assistant bench vision`: what reading an image costs, part by part.

Parts (run all, or pick with `--parts ocr,...`); each prints its own lines:

- ocr: a 1920x1080 screenshot drawn with Pillow (text editor, error dialog, taskbar), saved as PNG.
  The app's path (safe decode of the file + `RapidTextReader.read`) against a baseline measured in
  the same run: RapidOCR with its default settings on the same file. Medians of `--runs` after one
  warm-up; character accuracy for both, so a faster setting that reads worse shows up.

- drop: what a user waits for after dropping a screenshot and asking about it, through the real
  engine process with the default models (Qwen2.5-Coder-0.5B, RapidOCR): the window's own
  `GroundingJob` (safe decode, kept copy, OCR) and `ChatSession`, from the request to the first answer
  token. Each run draws a different ticket number in the screenshot's top-left corner, so its text (read
  first) differs early and the KV cache cannot reuse the previous run's prompt beyond the system prompt.
  The first run after the engine starts also loads the OCR models ("cold"); the chat model is loaded
  before it, as the window preloads it. With `--after S` the image is perceived from the drop, as the
  window does when no answer is streaming, and the user types for S seconds before pressing Send; the
  job then reuses the result (or waits for the reading still in flight). Each run then asks twice, on
  two new screenshots in alternating order: once typed without a prefill, once with the window's
  prefill while typing (`vision_typing`), and prints Send -> first token for both and their ratio.

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
from dataclasses import dataclass
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


def _numbered_screenshot(run: int, folder: Path) -> Path:
    from PIL import ImageDraw

    from assistant.bench.text_images import font

    image, _ = render_screenshot((1920, 1080))
    ImageDraw.Draw(image).text((20, 16), f"Ticket 4711-{run:03d}", font=font(16), fill="white")
    path = folder / f"screenshot-{run}.png"
    image.save(path)
    return path


@dataclass
class _Drop:
    """One drop-and-ask, timed from the drop."""

    prefill: bool  # the question was prefilled while typed (--after only)
    grounded_s: float  # the grounding is ready
    sent_s: float  # Send was pressed
    first_s: float  # the first answer token came
    prompt_tokens: int = 0
    reused_tokens: int = 0  # of them, found in the KV cache at Send
    prefills: int = 0
    held_s: float | None = None  # a prefill was still in the engine at Send: Send -> its end
    read_s: float | None = None  # --after: the image was read this long after the drop


def _bench_drop(args: argparse.Namespace) -> list[str]:
    from assistant import settings as settings_module
    from assistant.bench.vision_typing import type_question
    from assistant.chat.grounding_job import GroundingJob
    from assistant.chat.session import ChatSession, TurnUpdate
    from assistant.host.client import EngineClient, Inbox, load_model
    from assistant.host.messages import Event, Failed, Token
    from assistant.prompt.attachments import from_path

    settings = settings_module.Settings(threads=args.threads)  # the default models, not the user's
    model_dir = settings_module.data_dir()  # where the bundled chat model is assembled (once)
    question = "What went wrong, and what should I do?"
    class _FirstToken:
        """The answer's listener: when its first token came, and its last update."""

        def __init__(self) -> None:
            self.at: float | None = None
            self.error: str | None = None
            self.finished: TurnUpdate | None = None

        def __call__(self, event: Event, update: TurnUpdate | None) -> None:
            if isinstance(event, Failed):
                self.error = event.message
            if isinstance(event, Token) and self.at is None:
                self.at = time.perf_counter()
            if update is not None and update.finished:
                self.finished = update

    inbox = Inbox()  # handlers run on this thread, as on the window's GUI thread
    # A busy machine may take seconds to notice the stop after the first token: it must not be killed
    # for that (the next run would reload the model).
    client = EngineClient(inbox.deliver, stop_timeout_s=60.0)
    runs: list[list[_Drop]] = []
    # With --after, each run asks twice (new screenshots, so neither warms the other's cache), in
    # alternating order: typed without and with the prefill.
    variants = [False, True] if args.after > 0 else [False]
    with tempfile.TemporaryDirectory() as folder:
        # Images are kept in a throw-away library, not in the user's.
        library = Path(folder)
        try:
            client.start()
            session = ChatSession(None, client, settings, model_dir)
            started = time.perf_counter()
            loaded = load_model(client, session.engine_config())
            if isinstance(loaded, Failed):
                raise RuntimeError(loaded.message)
            load_s = time.perf_counter() - started
            for run in range(args.runs + 1):
                runs.append([])
                for index, prefill in enumerate(variants if run % 2 == 0 else variants[::-1]):
                    shot = _numbered_screenshot(run * len(variants) + index, library)
                    started = time.perf_counter()
                    typed = None
                    if args.after > 0:
                        typed = type_question(client, session, inbox, shot, library, question,
                                              started + args.after, prefill=prefill)
                    sent_s = time.perf_counter() - started
                    job = GroundingJob(client, settings, library, [from_path(shot)], question,
                                       perceived=typed.perceived if typed else None)
                    update = job.start()
                    inbox.pump_until(lambda job=job: job.finished)
                    update = job.last_update
                    if update.result is None:
                        raise RuntimeError(update.error or "the screenshot was not read")
                    grounded_s = time.perf_counter() - started
                    answer = _FirstToken()
                    session.send(None, question, grounded=update.result, on_event=answer)
                    inbox.pump_until(lambda answer=answer: answer.at is not None or answer.error is not None)
                    if answer.error is not None:
                        raise RuntimeError(answer.error)
                    held_s = None
                    if typed and typed.in_flight is not None and typed.in_flight_ended is not None:
                        held_s = typed.in_flight_ended - started - sent_s  # the dropped prefill's end
                    drop = _Drop(prefill, grounded_s, sent_s, answer.at - started,  # type: ignore[operator]
                                 prefills=typed.prefills if typed else 0, held_s=held_s,
                                 read_s=typed.read_s if typed else None)
                    session.stop()
                    inbox.pump_until(lambda: session.active_turn is None)
                    if answer.finished is not None:
                        drop.prompt_tokens = answer.finished.timings.get("prompt_tokens", 0)
                        drop.reused_tokens = answer.finished.timings.get("reused_tokens", 0)
                    runs[-1].append(drop)
        finally:
            client.shutdown()
    cold = runs[0][0]
    warm = [d for run in runs[1:] for d in run if not d.prefill]
    grounded = statistics.median(d.grounded_s for d in warm)
    first = statistics.median(d.first_s for d in warm)
    return [
        f"Drop -> first answer token, 1920x1080 screenshot, {settings.model} + RapidOCR, "
        f"threads={args.threads or 'auto'}, median of {len(warm)} (through the engine process)",
        f"  chat model load (preloaded, as the window does)  {load_s * 1000:7.0f} ms",
        f"  cold (OCR models load): read / first token       {cold.grounded_s * 1000:7.0f} / "
        f"{cold.first_s * 1000:.0f} ms",
        f"  decode + keep + OCR (grounding ready)            {grounded * 1000:7.0f} ms",
        f"  prompt evaluation to the first token             {(first - grounded) * 1000:7.0f} ms  "
        f"({statistics.median(d.prompt_tokens for d in warm):.0f} prompt tokens)",
        f"  drop -> first token                              {first * 1000:7.0f} ms",
        *(_typing_lines(args.after, [d for run in runs[1:] for d in run]) if args.after > 0 else []),
    ]


def _typing_lines(after: float, drops: list[_Drop]) -> list[str]:
    """Send -> first token after S seconds of typing, without and with the prefill, and their ratio."""
    read = [d.read_s for d in drops if d.read_s is not None]
    when = f"{statistics.median(read) * 1000:.0f} ms after the drop in {len(read)}" if read else "in none"
    lines = [f"  typing after the drop (perceived meanwhile)      {after * 1000:7.0f} ms  "
             f"(image read {when} of {len(drops)} before Send)"]
    medians = {}
    for prefill in (False, True):
        chosen = [d for d in drops if d.prefill == prefill]
        medians[prefill] = statistics.median(d.first_s - d.sent_s for d in chosen)
        evaluated = statistics.median(d.prompt_tokens - d.reused_tokens for d in chosen)
        label = "prefill while typing" if prefill else "no prefill          "
        each = ", ".join(f"{(d.first_s - d.sent_s) * 1000:.0f}"
                         + (f" [prefill ended +{d.held_s * 1000:.0f}]" if d.held_s is not None else "")
                         + f" ({d.prompt_tokens - d.reused_tokens} tok)" for d in chosen)
        lines.append(f"  Send -> first token, {label}        {medians[prefill] * 1000:7.0f} ms  "
                     f"({evaluated:.0f} prompt tokens left to evaluate at Send; runs: {each} ms)")
        if prefill:
            held = [d.held_s for d in chosen if d.held_s is not None]
            lines.append(f"    prefills per question {statistics.median(d.prefills for d in chosen):.0f}; "
                         f"one still in the engine at Send in {len(held)} of {len(chosen)} runs"
                         + (f", ending {statistics.median(held) * 1000:.0f} ms after Send" if held else ""))
    lines.append(f"  with prefill / without                           {medians[True] / medians[False]:7.2f}x")
    return lines




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
