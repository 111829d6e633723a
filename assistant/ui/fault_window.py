"""The real window under faults, driven case by case for `bench/reliability_faults.py` (issue 15).

Run as `python -m assistant.ui.fault_window PLAN.json LOG.jsonl` with QT_QPA_PLATFORM=offscreen and the
data and config folders in the environment. It builds the window exactly as `assistant` does (the real
engine child process under it), then does what the plan says, one case at a time, the way a user would:
drop files on the window, attach and send, search the history, pick a model, kill the engine while it
works. Each case is written to LOG as a `start` line before it runs and an `end` line after, so when this
process dies the bench knows which case killed the window, counts it, and starts a new window at the next
case. An exception that escapes into Qt's event loop is a failure of the case it happened in.

Kept out of the window's own start-up: nothing imports this module but the bench's command line.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import sys
import time
import traceback
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from assistant import settings as settings_module
from assistant.settings import Settings
from assistant.ui.app import AssistantApp, build

logger = logging.getLogger(__name__)

# Text that must never reach the user as a message: a raw exception or SQLite error is a crash in words.
RAW_ERROR = re.compile(r"Traceback|OperationalError|sqlite3\.|fts5:|syntax error|Error\(|<class '"
                       r"|could not answer \(\w+Error", re.I)
WORD = re.compile(r"[^\W_]+")  # the history's own word pattern (history/types.py)
MAX_SEARCH_WORDS = 32


def fold(text: str) -> str:
    """Lower case without diacritics, as FTS5's unicode61 tokenizer compares words."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# The signal the injected crash handler (see bench/reliability_faults.py) turns into a real SIGSEGV.
SEGV_SIGNAL = signal.SIGUSR2


class Harness:
    def __init__(self, plan: dict[str, Any], log_path: Path) -> None:
        self.plan = plan
        self.log = log_path.open("a", encoding="utf-8")
        self.escaped: list[str] = []
        self.seeded = False
        sys.excepthook = self._escaped
        self.app = QApplication.instance() or QApplication(["fault-window"])
        values = dict(plan.get("settings", {}))
        self.settings = Settings(**values)
        settings_path = settings_module.config_dir() / "settings.json"
        self.parts: AssistantApp = build(self.app, self.settings, settings_path)
        self.parts.window.resize(900, 700)
        self.parts.window.show()
        self.pump(0.2)
        if plan.get("engine", True):
            self.parts.start_engine()

    # ---- plumbing -----------------------------------------------------------------------------------

    def _escaped(self, kind: type[BaseException], error: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, error, tb))
        logger.error("Exception escaped into the event loop:\n%s", text)
        self.escaped.append(f"{kind.__name__}: {error}")

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait(self, done: Callable[[], bool], timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.app.processEvents()
            if done():
                return True
            time.sleep(0.01)
        self.app.processEvents()
        return done()

    def write(self, record: dict[str, Any]) -> None:
        self.log.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.log.flush()
        os.fsync(self.log.fileno())

    def run(self) -> None:
        scenario = getattr(self, "case_" + self.plan["scenario"])
        cases = self.plan["cases"]
        self.wait_model_ready()
        for index in range(int(self.plan.get("start", 0)), len(cases)):
            case = cases[index]
            self.write({"start": index})
            before = len(self.escaped)
            try:
                result = scenario(case)
            except Exception as error:  # a harness or app error: the case failed, the next one runs
                logger.exception("Case %d failed", index)
                result = {"failure": f"{type(error).__name__}: {error}"}
            if len(self.escaped) > before:
                result["failure"] = "exception in the window: " + "; ".join(self.escaped[before:])[:400]
            result["alive"] = self.parts.window.isVisible()
            if not result["alive"]:
                result["failure"] = result.get("failure") or "the window is gone"
            self.write({"end": index, **result})
        self.parts.shutdown()
        self.parts.window.close()

    def wait_model_ready(self) -> None:
        if self.plan.get("engine", True):
            controller, status = self.parts.controller, self.parts.window.status
            self.wait(lambda: controller.loaded is not None or bool(status.last_error), 180)

    # ---- what a user does ---------------------------------------------------------------------------

    def drop(self, *paths: str) -> None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
        widget: QWidget = self.parts.window
        center = widget.rect().center()
        buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        enter = QDragEnterEvent(QPoint(center), Qt.DropAction.CopyAction, mime, buttons, modifiers)
        QApplication.sendEvent(widget, enter)
        event = QDropEvent(QPointF(center), Qt.DropAction.CopyAction, mime, buttons, modifiers)
        QApplication.sendEvent(widget, event)

    def type_and_send(self, text: str) -> None:
        composer = self.parts.window.composer
        composer.set_draft(text)
        composer.editor.setFocus()
        composer._submit()  # what Enter does (the key event path is tested in tests/ui)

    def idle(self) -> bool:
        return not self.parts.controller.attachments.busy and self.parts.session.active_turn is None

    def clear_composer(self) -> None:
        """Back to an empty composer; a question still being prepared (a case that ran out of time) is
        cancelled first, so one slow case cannot fail the next ones."""
        if self.parts.controller.attachments.busy:
            self.parts.controller.attachments.cancel()
            self.wait(lambda: not self.parts.controller.attachments.busy, 60)
        if self.parts.session.active_turn is not None:
            self.parts.controller.stop()
            self.wait(lambda: self.parts.session.active_turn is None, 60)
        composer = self.parts.window.composer
        for attachment in composer.attachments():
            composer.remove_attachment(attachment)
        composer.clear_draft()
        composer.clear_error()
        self.parts.window.status.last_error = ""

    def told(self) -> str:
        """Everything the window shows the user as a problem right now."""
        window = self.parts.window
        parts = [window.composer.error_text(), window.status.last_error]
        for chip in window.composer.chips.chips():
            if chip.note.text():
                parts.append(f"{chip.note.text()}: {chip.toolTip()}")
            if chip.thumbnail_error:
                parts.append(chip.thumbnail_error)
        bubbles = window.chat_view.bubbles()
        if bubbles and bubbles[-1].error.text():
            parts.append(bubbles[-1].error.text())
        return "\n".join(p for p in parts if p)

    def raw_error(self) -> str | None:
        shown = self.told()
        match = RAW_ERROR.search(shown)
        return shown if match else None

    # ---- scenarios ----------------------------------------------------------------------------------

    def case_drop_image(self, case: dict[str, Any]) -> dict[str, Any]:
        """Drop one image: it is refused with a message, or read (a bit flip in the pixels) or
        marked unreadable on its chip with the engine's reason; the thumbnail never takes the window."""
        self.clear_composer()
        path = case["path"]
        composer = self.parts.window.composer
        questions = self.parts.controller.attachments
        self.drop(path)
        if not composer.attachments():
            message = composer.error_text()
            ok = len(message) > 20
            return {"ending": "refused at drop", "message": message,
                    **({} if ok else {"failure": "not attached and nothing said"})}
        attachment = composer.attachments()[0]

        def read() -> bool:
            early = questions.early(attachment.path)
            return early is not None and early.ticket is None

        def thumbnail_done() -> bool:
            chips = composer.chips.chips()
            return bool(chips) and (chips[0].has_thumbnail or bool(chips[0].thumbnail_error))

        ended = self.wait(lambda: read() or questions.early(attachment.path) is None, case.get("limit_s", 90))
        self.wait(thumbnail_done, 30)
        early = questions.early(attachment.path)
        result: dict[str, Any]
        if not ended:
            result = {"ending": "hung", "failure": "the image's read did not end"}
        elif early is None:  # the read was dropped: the engine restarted under it
            told = self.told()
            result = {"ending": "engine died", "message": told}
            if len(told) < 20:
                result["failure"] = "the engine died reading it and the window said nothing"
        elif early.found is not None:
            result = {"ending": "read", "message": ""}
        else:
            told = self.told()
            result = {"ending": "unreadable", "message": told}
            if not early.error or len(told) < 20:
                result["failure"] = "unreadable but nothing said"
        raw = self.raw_error()
        if raw:
            result["failure"] = f"a raw error is shown: {raw[:200]}"
        self.clear_composer()
        return result

    def case_attach_and_send(self, case: dict[str, Any]) -> dict[str, Any]:
        """Attach one file and ask about it: refused with a message, or answered (or an answer that
        failed with a message); the draft stays when the attachment could not be used."""
        self.clear_composer()
        composer = self.parts.window.composer
        store, controller = self.parts.store, self.parts.controller
        controller.new_chat()  # each file in a chat of its own: a long chat is trimmed, which costs time
        self.drop(case["path"])
        if not composer.attachments():
            message = composer.error_text()
            return {"ending": "refused at drop", "message": message,
                    **({} if len(message) > 20 else {"failure": "not attached and nothing said"})}
        before = len(store.messages(controller.current_conversation_id)) if (
            store and controller.current_conversation_id) else 0
        question = case.get("question", "What is in this file?")
        self.type_and_send(question)
        if not self.wait(lambda: self.idle() and not composer.busy, case.get("limit_s", 180)):
            return {"ending": "hung", "failure": "the question neither finished nor failed"}
        told = self.told()
        conversation = controller.current_conversation_id
        after = store.messages(conversation) if store and conversation else []
        result: dict[str, Any]
        if len(after) > before:
            answer = after[-1]
            result = {"ending": f"answered ({answer.status})", "message": told}
            if answer.status not in ("complete",) and len(told) < 20:
                result["failure"] = f"answer {answer.status} and nothing said"
        else:
            result = {"ending": "refused", "message": told}
            if len(told) < 20:
                result["failure"] = "nothing sent and nothing said"
            elif composer.draft() != question:
                result["failure"] = "refused, and the draft was lost"
        raw = self.raw_error()
        if raw:
            result["failure"] = f"a raw error is shown: {raw[:200]}"
        self.clear_composer()
        return result

    def case_pick_model(self, case: dict[str, Any]) -> dict[str, Any]:
        """Choose a model file as the picker does: it loads, or the status bar says why not."""
        status = self.parts.window.status
        status.last_error = ""
        controller = self.parts.controller
        controller.loaded = None
        self.parts.actions.apply(replace(self.parts.session.settings, model=case["path"]), save=False)
        limit = case.get("limit_s", 120)
        if not self.wait(lambda: controller.loaded is not None or bool(status.last_error), limit):
            return {"ending": "hung", "failure": "the model neither loaded nor failed"}
        if status.last_error:
            message = status.last_error
            result = {"ending": "refused", "message": message}
            if "answer so far" in message:
                result["failure"] = f"a load failure worded as a lost answer: {message}"
            raw = self.raw_error()
            if raw:
                result["failure"] = f"a raw error is shown: {raw[:200]}"
            return result
        return {"ending": "loaded", "message": ""}

    def seed_history(self) -> None:
        """The plan's conversations, stored as a user would have made them (one question, one answer)."""
        store = self.parts.store
        if store is None or self.seeded:
            return
        for title, text in self.plan.get("history", []):
            conversation = store.create_conversation(title)
            store.add_message(conversation, "user", text)
            store.add_message(conversation, "assistant", "Noted.")
        self.parts.controller.refresh_sidebar()
        self.seeded = True

    def case_search_history(self, case: dict[str, Any]) -> dict[str, Any]:
        """Type a query into the history's search box: every hit holds every word typed (the last one
        as the start of a word), every stored chat that holds them is found, and no error is shown."""
        self.seed_history()
        sidebar = self.parts.window.sidebar
        store = self.parts.store
        assert store is not None
        self.parts.window.status.last_error = ""
        sidebar.search_box.setText(case["query"])
        sidebar.search_requested.emit(sidebar.search_text())  # what the debounce timer emits
        self.pump(0.02)
        showing = sidebar.stack.currentWidget() is sidebar.hits
        shown = sidebar.hits.count() if showing else 0
        words = [fold(w) for w in WORD.findall(sidebar.search_text())[:MAX_SEARCH_WORDS]]
        texts = {}  # conversation -> its title and messages, folded as FTS5's unicode61 folds them
        for summary in store.list_conversations():
            parts = [summary.title] + [m.text for m in store.messages(summary.id)]
            texts[summary.id] = [set(WORD.findall(fold(p))) for p in parts]

        def holds(tokens: set[str]) -> bool:
            return bool(words) and all(w in tokens for w in words[:-1]) and any(
                t.startswith(words[-1]) for t in tokens)

        expected = {cid for cid, parts in texts.items() if any(holds(t) for t in parts)}
        hits = store.search(sidebar.search_text()) if words else []
        found = {h.conversation_id for h in hits}
        result: dict[str, Any] = {"ending": f"{shown} hits", "message": self.parts.window.status.last_error}
        if shown != len(hits):
            result["failure"] = f"{shown} hits shown, the history holds {len(hits)}"
        elif found != expected:
            result["failure"] = f"found chats {sorted(found)}, expected {sorted(expected)} for {words}"
        if self.parts.window.status.last_error:
            result["failure"] = f"an error is shown for a search: {self.parts.window.status.last_error[:200]}"
        sidebar.search_box.clear()
        sidebar.search_requested.emit("")
        return result

    def case_crash(self, case: dict[str, Any]) -> dict[str, Any]:
        """Kill the engine while it works (SIGKILL by pid from outside, or a real SIGSEGV inside it):
        the window stays, says so, and the next request starts a new engine that answers."""
        self.clear_composer()
        client = self.parts.client
        when, how = case["when"], case["how"]
        rng = random.Random(case.get("seed", 0))
        controller, composer, questions = self.parts.controller, self.parts.window.composer, \
            self.parts.controller.attachments
        pid = client.engine_pid
        if pid is None:  # an earlier case left no engine: a question starts one
            self.type_and_send("Say hi.")
            self.wait(self.idle, 120)
            pid = client.engine_pid
        if pid is None:
            return {"ending": "no engine", "failure": "no engine process to kill"}
        if when == "answer":
            controller.new_chat()  # a fresh conversation: after many cases a long one gets short answers
            self.type_and_send(case.get("question", "Count from 1 to 300, separated by commas."))
            session = self.parts.session
            busy = self.wait(lambda: (t := session.active_turn) is not None and len(t.text) >= 10, 120)
        elif when == "transcription":
            self.drop(case["path"])
            self.type_and_send("What does the speaker say?")
            busy = self.wait(lambda: questions.busy and questions.progress is not None
                             and questions.progress.message.startswith("Transcribing"), 120)
        else:  # ocr: the early read of a dropped image
            self.drop(case["path"])
            attachments = composer.attachments()
            busy = bool(attachments) and self.wait(
                lambda: (e := questions.early(attachments[0].path)) is not None and e.ticket is not None, 60)
        if not busy:
            self.clear_composer()
            self.wait(self.idle, 120)
            return {"ending": "missed", "message": "the work ended before the kill"}
        store, conversation_before = self.parts.store, controller.current_conversation_id
        stored_before = len(store.messages(conversation_before)) if store and conversation_before else 0
        time.sleep(rng.uniform(0.0, case.get("jitter_s", 0.3)))
        self.app.processEvents()
        os.kill(pid, signal.SIGKILL if how == "sigkill" else SEGV_SIGNAL)
        if not self.wait(lambda: client.engine_pid != pid, 30):
            return {"ending": "not killed", "failure": "the engine did not die"}
        if when == "ocr":
            path = composer.attachments()[0].path if composer.attachments() else ""
            self.wait(lambda: questions.early(path) is None or questions.early(path).ticket is None, 30)
        self.wait(lambda: self.idle() and not composer.busy, 60)
        self.pump(0.1)
        told = self.told()
        if "engine" not in told.lower() and self.finished_before_kill(when, stored_before):
            # The work ended between the last look and the kill (its end was already in the pipe):
            # nothing was lost, so nothing is said; the case did not test a crash mid-work.
            self.clear_composer()
            return {"ending": "missed", "message": "the work ended just before the kill"}
        ending = "told" if "engine" in told.lower() else "not told"
        result: dict[str, Any] = {"ending": ending, "message": told}
        if "engine" not in told.lower():
            result["failure"] = f"the user was not told the engine stopped ({when}, {how}): {told[:200]!r}"
        elif when == "answer":
            messages = self.parts.store.messages(controller.current_conversation_id)  # type: ignore[union-attr]
            if messages[-1].status != "interrupted":
                result["failure"] = f"the answer was left '{messages[-1].status}', not interrupted"
        elif when == "transcription" and not composer.attachments():
            result["failure"] = "the recording's chip was lost with the crash"
        # The next request restarts the engine, and it answers.
        if when == "answer":
            self.clear_composer()
            self.type_and_send("Say hello.")
        else:
            composer.set_draft("What is in the file?")
            composer._submit()
        self.wait(lambda: self.idle() and not composer.busy, case.get("limit_s", 240))
        new_pid = client.engine_pid
        conversation = controller.current_conversation_id
        last = self.parts.store.messages(conversation)[-1] if conversation and self.parts.store else None
        if new_pid is None or new_pid == pid:
            result["failure"] = result.get("failure") or "no new engine after the crash"
        elif last is None or last.role != "assistant" or last.status != "complete":
            result["failure"] = result.get("failure") or (
                f"the next request did not answer: {last.status if last else None}; {self.told()[:200]!r}")
        self.clear_composer()
        return result

    def finished_before_kill(self, when: str, stored_before: int) -> bool:
        """Whether the work the kill aimed at ended normally after all."""
        store, conversation = self.parts.store, self.parts.controller.current_conversation_id
        messages = store.messages(conversation) if store is not None and conversation else []
        if when == "ocr":
            attachments = self.parts.window.composer.attachments()
            early = self.parts.controller.attachments.early(attachments[0].path) if attachments else None
            return early is not None and early.found is not None
        if when == "answer":  # its row was stored (streaming) before the kill; it ended complete
            return bool(messages) and messages[-1].status == "complete"
        # The recording's question was stored after the kill, and its answer completed.
        return len(messages) > stored_before and messages[-1].status == "complete"

    def case_hostile_name(self, case: dict[str, Any]) -> dict[str, Any]:
        """Files whose names hold newlines, unicode, markup or `..` dropped together and asked about:
        each chip shows its name as typed (never as markup), the question is answered, and the stored
        question keeps the names."""
        self.clear_composer()
        self.parts.controller.new_chat()  # a long chat is trimmed at its start, which costs the KV cache
        composer = self.parts.window.composer
        if case.get("via") == "attach":
            composer.add_paths(case["paths"])  # what Attach… does with the file dialog's choice
        else:
            self.drop(*case["paths"])
        names = [a.name for a in composer.attachments()]
        expected = [Path(p).name for p in case["paths"]]
        result: dict[str, Any] = {"ending": "", "message": ""}
        if sorted(names) != sorted(expected):
            return {"ending": "not attached", "message": composer.error_text(),
                    "failure": f"attached {names!r}, expected {expected!r}: {composer.error_text()[:200]!r}"}
        self.type_and_send("What do these files say?")
        if not self.wait(lambda: self.idle() and not composer.busy, case.get("limit_s", 240)):
            return {"ending": "hung", "failure": "the question neither finished nor failed"}
        store, conversation = self.parts.store, self.parts.controller.current_conversation_id
        messages = store.messages(conversation) if store is not None and conversation else []
        if len(messages) < 2 or messages[-1].status != "complete":
            told = self.told()
            return {"ending": "not answered", "message": told, "failure": f"no answer: {told[:300]!r}"}
        result["ending"] = "answered"
        shown_as_markup = self.markup_labels(expected)
        if shown_as_markup:
            result["failure"] = f"a name is shown as markup, not as typed: {shown_as_markup[:3]!r}"
        stored = [a.name for a in messages[-2].attachments]
        if sorted(stored) != sorted(expected):
            result["failure"] = f"stored names {stored!r}, expected {expected!r}"
        marker = case.get("marker")
        if marker and Path(marker).exists():
            result["failure"] = "a name ran a command"
        return result

    def markup_labels(self, names: list[str]) -> list[str]:
        """Labels that show one of `names` and would render it as rich text (markup in a name must be
        shown as typed: it is a file name, not formatting)."""
        from PySide6.QtGui import Qt as QtGui  # mightBeRichText is in QtGui's part of the Qt namespace
        from PySide6.QtWidgets import QLabel

        found = []
        for label in self.parts.window.findChildren(QLabel):
            text = label.text()
            # Only markup characters render differently as rich text; a name without them reads the same.
            if not any(n in text and set(n) & set("<>&") for n in names):
                continue
            if label.textFormat() == Qt.TextFormat.RichText or (
                    label.textFormat() == Qt.TextFormat.AutoText and QtGui.mightBeRichText(text)):
                found.append(text[:120])
        return found


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(processName)s %(name)s %(levelname)s: %(message)s")
    plan = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    harness = Harness(plan, Path(argv[1]))
    harness.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
