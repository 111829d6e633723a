"""`assistant bench vision --parts drop`: what a user waits for after dropping a screenshot and asking
about it, through the real engine process.

The window's own `GroundingJob` (safe decode, kept copy, OCR, the classifier's guesses) and
`ChatSession`, from the request to the first answer token, with the chat model preloaded as the window
does (`--model`, default: the automatic choice). Each ask uses a new screenshot whose top-left corner
carries a new ticket number, so its text (read first) differs early and the KV cache cannot reuse the
previous ask's prompt beyond the system prompt. The first ask after the engine starts also loads the
OCR models and the classifier ("cold").

Wall-clock times move with what else the machine runs, so the engine process's own CPU time is read
too (`/proc/<pid>/stat`, all its threads): the core-seconds each ask's read and prompt cost. Their sum
over the cores is the fastest any schedule of that work could be, and the share of the machine other
programs took meanwhile is printed beside it. With `--threads 1` that is the work itself; with more,
the waiting threads of llama.cpp and onnxruntime spin, and on a busy machine their spinning counts too.

Asked at once (no `--after`), each run asks twice, in alternating order: *sequential*, the image read
and then the whole prompt evaluated (the app before issue 14), and *overlapped*, the prompt's start
(system prompt, history, the image block's header) evaluated on a second engine thread while the
image is read (`PerceiveRequest.prefill`, `host/prefill_beside.py`), as the app now asks.

With `--after S` the image is perceived from the drop, as the window does when no answer is
streaming, and the user types for S seconds before pressing Send; the job then reuses the result (or
waits for the reading still in flight). Each run then asks twice, typed without a prefill and with
the window's prefill while typing (`vision_typing`), and prints Send -> first token for both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.bench.text_images import render_screenshot

QUESTION = "What went wrong, and what should I do?"


def numbered_screenshot(run: int, folder: Path) -> Path:
    from PIL import ImageDraw

    from assistant.bench.text_images import font

    image, _ = render_screenshot((1920, 1080))
    ImageDraw.Draw(image).text((20, 16), f"Ticket 4711-{run:03d}", font=font(16), fill="white")
    path = folder / f"screenshot-{run}.png"
    image.save(path)
    return path


@dataclass
class Drop:
    """One drop-and-ask, timed from the drop."""

    variant: str  # "sequential" | "overlapped" (asked at once); "typed" | "prefilled" (--after)
    grounded_s: float  # the grounding is ready
    sent_s: float  # Send was pressed
    first_s: float  # the first answer token came
    prompt_tokens: int = 0
    reused_tokens: int = 0  # of them, found in the KV cache at Send
    prefills: int = 0
    held_s: float | None = None  # a prefill was still in the engine at Send: Send -> its end
    read_s: float | None = None  # --after: the image was read this long after the drop
    read_cpu_s: float = 0.0  # the engine's CPU time (all threads) from the drop to the grounding
    prompt_cpu_s: float = 0.0  # ... and from there to the first token


def engine_cpu_s(pid: int | None) -> float:
    """User + system seconds of the engine process so far (0 where /proc is missing)."""
    from assistant.models.cpu_busy import parse_own_stat

    try:
        return parse_own_stat(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK")) or 0.0
    except (OSError, ValueError, AttributeError, TypeError):
        return 0.0


def bench_drop(args: argparse.Namespace) -> list[str]:
    from assistant import settings as settings_module
    from assistant.bench.first_token import FirstToken
    from assistant.bench.vision_typing import type_question
    from assistant.chat.grounding_job import GroundingJob
    from assistant.chat.session import ChatSession
    from assistant.host.client import EngineClient, Inbox, load_model
    from assistant.host.messages import Failed
    from assistant.models import cpu_busy
    from assistant.prompt.attachments import from_path

    # The default models, not the user's (the chat model: --model, else the automatic choice).
    settings = settings_module.Settings(threads=args.threads, model=getattr(args, "model", "") or "")
    model_dir = settings_module.data_dir()  # where the bundled chat model is assembled (once)

    inbox = Inbox()  # handlers run on this thread, as on the window's GUI thread
    # A busy machine may take seconds to notice the stop after the first token: it must not be killed
    # for that (the next run would reload the model).
    client = EngineClient(inbox.deliver, stop_timeout_s=60.0)
    runs: list[list[Drop]] = []
    # Each run asks twice on new screenshots (so neither warms the other's cache), in alternating order.
    variants = ["typed", "prefilled"] if args.after > 0 else ["sequential", "overlapped"]
    with tempfile.TemporaryDirectory() as folder:
        library = Path(folder)  # images are kept in a throw-away library, not in the user's
        try:
            client.start()
            session = ChatSession(None, client, settings, model_dir)
            started = time.perf_counter()
            loaded = load_model(client, session.engine_config())
            if isinstance(loaded, Failed):
                raise RuntimeError(loaded.message)
            load_s = time.perf_counter() - started
            machine_before, bench_before = cpu_busy.sample(), engine_cpu_s(client.engine_pid)
            for run in range(args.runs + 1):
                runs.append([])
                for index, variant in enumerate(variants if run % 2 == 0 else variants[::-1]):
                    shot = numbered_screenshot(run * len(variants) + index, library)
                    started, cpu_started = time.perf_counter(), engine_cpu_s(client.engine_pid)
                    typed = None
                    if args.after > 0:
                        typed = type_question(client, session, inbox, shot, library, QUESTION,
                                              started + args.after, prefill=variant == "prefilled")
                    sent_s = time.perf_counter() - started
                    overlap = variant == "overlapped"
                    job = GroundingJob(client, settings, library, [from_path(shot)], QUESTION,
                                       perceived=typed.perceived if typed else None,
                                       prefill_for=(lambda start: session.prefill_request(None, start))
                                       if overlap else None)
                    job.start()
                    inbox.pump_until(lambda job=job: job.finished)
                    update = job.last_update
                    if update.result is None:
                        raise RuntimeError(update.error or "the screenshot was not read")
                    grounded_s = time.perf_counter() - started
                    cpu_grounded = engine_cpu_s(client.engine_pid)
                    answer = FirstToken()
                    session.send(None, QUESTION, grounded=update.result, on_event=answer)
                    inbox.pump_until(lambda answer=answer: answer.at is not None or answer.error is not None)
                    if answer.error is not None:
                        raise RuntimeError(answer.error)
                    cpu_first = engine_cpu_s(client.engine_pid)
                    held_s = None
                    if typed and typed.in_flight is not None and typed.in_flight_ended is not None:
                        held_s = typed.in_flight_ended - started - sent_s  # the dropped prefill's end
                    drop = Drop(variant, grounded_s, sent_s, answer.at - started,  # type: ignore[operator]
                                prefills=typed.prefills if typed else 0, held_s=held_s,
                                read_s=typed.read_s if typed else None,
                                read_cpu_s=cpu_grounded - cpu_started, prompt_cpu_s=cpu_first - cpu_grounded)
                    session.stop()
                    inbox.pump_until(lambda: session.active_turn is None)
                    if answer.finished is not None:
                        drop.prompt_tokens = answer.finished.timings.get("prompt_tokens", 0)
                        drop.reused_tokens = answer.finished.timings.get("reused_tokens", 0)
                    runs[-1].append(drop)
            engine_used = engine_cpu_s(client.engine_pid) - bench_before
            others = _others_share(machine_before, cpu_busy.sample(), engine_used)
        finally:
            client.shutdown()
    cold = runs[0][0]
    warm = [d for run in runs[1:] for d in run]
    lines = [
        f"Drop -> first answer token, 1920x1080 screenshot, {session.model_name()} + RapidOCR, "
        f"threads={args.threads or 'auto'}, {len(runs) - 1} runs (through the engine process)",
        f"  chat model load (preloaded, as the window does)  {load_s * 1000:7.0f} ms",
        f"  cold (OCR models load): read / first token       {cold.grounded_s * 1000:7.0f} / "
        f"{cold.first_s * 1000:.0f} ms",
    ]
    if args.after > 0:
        return lines + _typing_lines(args.after, warm)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = f"{others:.0%}" if others is not None else "unknown"
    return lines + _at_once_lines(warm, cores) + [
        f"  other programs' share of the machine meanwhile     {busy}"]


def _others_share(before: object, after: object, engine_s: float) -> float | None:
    """What everything but this benchmark and its engine used of the machine between the samples."""
    from assistant.models.cpu_busy import CpuTimes, others_share

    if not isinstance(before, CpuTimes) or not isinstance(after, CpuTimes):
        return None
    # others_share subtracts this process's own time; the engine's is ours too.
    return others_share(before, CpuTimes(after.busy_s - engine_s, after.total_s, after.own_s))


def _at_once_lines(drops: list[Drop], cores: int) -> list[str]:
    """Asked at once: the read, the prompt left at Send, drop -> first token; sequential vs overlapped;
    and the work in core-seconds, which no overlap can finish faster than over all the cores."""
    lines, medians = [], {}
    for variant in ("sequential", "overlapped"):
        chosen = [d for d in drops if d.variant == variant]
        grounded = statistics.median(d.grounded_s for d in chosen)
        medians[variant] = first = statistics.median(d.first_s for d in chosen)
        left = statistics.median(d.prompt_tokens - d.reused_tokens for d in chosen)
        each = ", ".join(f"{d.first_s * 1000:.0f}" for d in chosen)
        lines += [
            f"  {variant}: read (decode + keep + OCR + guesses)  {grounded * 1000:7.0f} ms",
            f"  {variant}: Send -> first token               {(first - grounded) * 1000:7.0f} ms  "
            f"({statistics.median(d.prompt_tokens for d in chosen):.0f} prompt tokens, {left:.0f} "
            "evaluated at Send)",
            f"  {variant}: drop -> first token               {first * 1000:7.0f} ms  (runs: {each} ms)",
        ]
        read_cpu = statistics.median(d.read_cpu_s for d in chosen)
        prompt_cpu = statistics.median(d.prompt_cpu_s for d in chosen)
        lines.append(f"  {variant}: engine CPU, read + prompt           {read_cpu:.2f} + {prompt_cpu:.2f} "
                     f"core-s (at best {(read_cpu + prompt_cpu) / cores * 1000:.0f} ms on {cores} cores)")
    lines.append(f"  overlapped / sequential                          "
                 f"{medians['overlapped'] / medians['sequential']:7.2f}x")
    return lines


def _typing_lines(after: float, drops: list[Drop]) -> list[str]:
    """Send -> first token after S seconds of typing, without and with the prefill, and their ratio."""
    read = [d.read_s for d in drops if d.read_s is not None]
    when = f"{statistics.median(read) * 1000:.0f} ms after the drop in {len(read)}" if read else "in none"
    lines = [f"  typing after the drop (perceived meanwhile)      {after * 1000:7.0f} ms  "
             f"(image read {when} of {len(drops)} before Send)"]
    medians = {}
    for variant in ("typed", "prefilled"):
        chosen = [d for d in drops if d.variant == variant]
        medians[variant] = statistics.median(d.first_s - d.sent_s for d in chosen)
        evaluated = statistics.median(d.prompt_tokens - d.reused_tokens for d in chosen)
        label = "prefill while typing" if variant == "prefilled" else "no prefill          "
        each = ", ".join(f"{(d.first_s - d.sent_s) * 1000:.0f}"
                         + (f" [prefill ended +{d.held_s * 1000:.0f}]" if d.held_s is not None else "")
                         + f" ({d.prompt_tokens - d.reused_tokens} tok)" for d in chosen)
        lines.append(f"  Send -> first token, {label}        {medians[variant] * 1000:7.0f} ms  "
                     f"({evaluated:.0f} prompt tokens left to evaluate at Send; runs: {each} ms)")
        if variant == "prefilled":
            held = [d.held_s for d in chosen if d.held_s is not None]
            lines.append(f"    prefills per question {statistics.median(d.prefills for d in chosen):.0f}; "
                         f"one still in the engine at Send in {len(held)} of {len(chosen)} runs"
                         + (f", ending {statistics.median(held) * 1000:.0f} ms after Send" if held else ""))
    lines.append(f"  with prefill / without                           "
                 f"{medians['prefilled'] / medians['typed']:7.2f}x")
    return lines
