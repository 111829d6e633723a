"""The hardware and models panel: shown on the first start, and from Help ▸ Hardware and models….

It shows this computer (cores, memory, free disk; GPU offload as the engine reports it), a row per
catalogue chat model (size, RAM need, whether it fits, speed measured here) and a recommendation
(`model_fit.recommend`). Then it works through a queue, one engine request at a time: the bundled
default models are prepared (assembled and verified, `PrepareRequest`) with a progress bar, and each
installed chat model is measured (`BenchmarkRequest`, a few seconds each). Nothing blocks the window:
the catalogue and disk checks run on a worker thread, the rest in the engine process, and the events
come back to the panel's handler of the request in flight. Closing the panel cancels the request in flight
(without a kill deadline: a benchmark ends within seconds) and drops the rest of the queue.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant.host.client import Ticket
from assistant.host.messages import (
    BenchmarkRequest,
    Done,
    Event,
    Failed,
    ModelBenchmarked,
    PrepareRequest,
    Progress,
    result_of,
)
from assistant.models import catalog
from assistant.models import fit as model_fit
from assistant.models.fit import ModelRow, Speed
from assistant.settings import AUTOMATIC_MODEL
from assistant.ui.models.model_table import ModelTable

if TYPE_CHECKING:
    from assistant.ui.chat.controller import ChatController
    from assistant.ui.window_actions import WindowActions

logger = logging.getLogger(__name__)


def gpu_line(event: ModelBenchmarked) -> str:
    """'GPU: none (CPU build of llama.cpp), 0/25 layers offloaded. Threads: 2', or with the GPU's name."""
    if event.accelerator is not None:
        return f"{event.accelerator.describe()}. Threads: {event.threads}"
    offload = f"yes ({event.gpu_layers} layers offloaded)" if event.gpu_offload else \
        "no: this llama.cpp build runs on the CPU"
    return f"GPU offload: {offload}. Threads: {event.threads}"


class FirstRunPanel(QDialog):
    surveyed = Signal(object)  # emitted on the worker thread; Qt queues it to the GUI thread
    finished_work = Signal()  # the queue is done (or was dropped by closing)

    def __init__(self, controller: ChatController, actions: WindowActions, data_dir: Path,
                 entries: Sequence[catalog.ModelEntry] | None = None,
                 bundled: Sequence[catalog.ModelEntry] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hardware and models")
        self.resize(1160, 480)  # every column readable without scrolling on a 1280-wide screen
        self.controller, self.actions, self.data_dir = controller, actions, Path(data_dir)
        self._entries, self._bundled = entries, bundled
        self.rows: list[ModelRow] = []
        self.speeds: dict[str, Speed] = {}  # kept across openings: measuring again is a button away
        self.notes: dict[str, str] = {}  # per model: 'measuring…', 'stopped', a failure…
        self.recommended: str | None = None
        self.queue: list[tuple[str, str]] = []  # ("prepare" | "benchmark", model name)
        self.current: tuple[Ticket, str, str] | None = None  # (request, kind, model) in flight
        self.benchmarked = False  # the chat model was unloaded: reload it when the queue is done
        self.outcomes: list[tuple[str, str, str]] = []  # (kind, model, 'complete'|'stopped'|'failed')
        self.missing = ""  # bundled models whose packages are not installed, said when the queue ends

        self.machine_label = QLabel("Looking at this computer…")
        self.gpu_label = QLabel("GPU: reported once a model has been measured")
        self.table = ModelTable()
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.recommendation = QLabel()
        self.recommendation.setWordWrap(True)
        self.stage = QLabel()
        self.progress = QProgressBar()
        self.progress.hide()
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_selected)
        self.measure_button = QPushButton("Measure again")
        self.measure_button.clicked.connect(self.measure_again)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)
        for label in (self.machine_label, self.gpu_label, self.stage):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.measure_button)
        buttons.addStretch(1)
        buttons.addWidget(close_button)
        column = QVBoxLayout(self)
        for widget in (self.machine_label, self.gpu_label, self.table, self.recommendation, self.stage,
                       self.progress):
            column.addWidget(widget, 1 if widget is self.table else 0)
        column.addLayout(buttons)
        self.surveyed.connect(self._show_survey)
        self._update_buttons()

    # ---- opening: survey on a worker thread ---------------------------------------------------------

    def start(self) -> None:
        """Look at the machine and the catalogue again, then prepare and measure what is new."""
        if self.current is not None or self.queue:
            return  # already working

        def work() -> None:  # worker thread: nothing here touches a widget
            try:
                result: object = model_fit.survey(self.data_dir, self._entries, self._bundled)
            except Exception as error:  # a broken catalogue or an unreadable disk: shown, not raised
                logger.exception("Looking at the models failed")
                result = error
            self.surveyed.emit(result)

        threading.Thread(target=work, name="first-run-survey", daemon=True).start()

    def _show_survey(self, result: object) -> None:
        if isinstance(result, Exception):
            self.machine_label.setText(f"The models could not be listed: {result}")
            self.finished_work.emit()  # nothing to do: the engine may start as on any other day
            return
        assert isinstance(result, model_fit.Survey)
        self.machine_label.setText("\n".join(result.machine.summary_lines()))
        self.rows = result.rows
        missing = ", ".join(result.missing_bundled)
        self.missing = f"; not installed: {missing}" if missing else ""
        self.queue = [("prepare", name) for name, _title in result.prepare]
        self.queue += [("benchmark", r.name) for r in self.rows
                       if model_fit.should_measure(r) and r.name not in self.speeds]
        waiting = {name for kind, name in self.queue if kind == "benchmark"}
        for row in self.rows:
            if row.name in waiting:
                self.notes[row.name] = "waiting"
        self._fill_table()
        self._next()

    # ---- the queue ----------------------------------------------------------------------------------

    def _next(self) -> None:
        while self.queue and self.isVisible():
            settings = self.controller.session.settings
            kind, name = self.queue.pop(0)
            client = self.controller.client
            request: PrepareRequest | BenchmarkRequest
            if kind == "prepare":
                request = PrepareRequest(name, str(self.data_dir))
            else:
                request = BenchmarkRequest(name, str(self.data_dir), settings.threads, settings.gpu_layers)
            try:
                ticket = client.send(request, self._on_event)
                if kind == "benchmark":
                    self.benchmarked = True
                    self._note(name, "measuring…")
            except Exception as error:  # the engine could not start: say so and keep the window usable
                logger.exception("Could not send the %s request for %s", kind, name)
                self.queue.clear()
                self.progress.hide()
                self.stage.setText(f"The engine could not start: {error}")
                self.finished_work.emit()
                return
            self.current = (ticket, kind, name)
            self.stage.setText(("Preparing " if kind == "prepare" else "Measuring ") + self._title(name))
            self.progress.setRange(0, 0)
            self.progress.show()
            return
        self.queue.clear()
        self.progress.hide()
        if self.outcomes or self.missing:
            self.stage.setText(("Done" if self.isVisible() else "Stopped") + self.missing + ".")
        self._follow_measurement()
        self._update_buttons()
        self.finished_work.emit()

    def _follow_measurement(self) -> None:
        """The user has not chosen a model (Settings.model is automatic): the measured recommendation
        decides, when it differs from the automatic rule's pick (which assumed any bundled model that
        fits memory is fast enough). Before finished_work, so the engine loads the chosen model once."""
        if self.controller.session.settings.model != AUTOMATIC_MODEL or not self.speeds:
            return
        recommended = self.recommended
        if recommended is None or recommended == self.controller.session.model_name():
            return
        self.actions.choose_model(recommended)
        self.stage.setText(f"{self._title(recommended)} will answer your questions: the largest model that "
                           "answers at a readable speed here. The model list changes it.")

    def _on_event(self, event: Event) -> None:
        """The handler of the request in flight (GUI thread); one at a time."""
        if self.current is None:
            return
        _ticket, kind, name = self.current
        if isinstance(event, Progress):
            if event.message:
                self.stage.setText(event.message)
            scale = max(1, event.total // 1_000_000)  # bytes would overflow the bar's int range
            self.progress.setRange(0, event.total // scale if event.stage != "load" else 0)
            self.progress.setValue(event.done // scale)
        elif isinstance(event, (Done, Failed)):
            measured = result_of(event, ModelBenchmarked)
            if measured is not None:
                self.speeds[name] = Speed(measured.load_s, measured.prompt_tokens_per_s,
                                          measured.decode_tokens_per_s, measured.total_s, measured.busy_share)
                self.notes.pop(name, None)
                self.gpu_label.setText(gpu_line(measured))
                self._fill_table()
            outcome = "failed" if isinstance(event, Failed) else event.status
            self.outcomes.append((kind, name, outcome))
            if isinstance(event, Failed):
                self._note(name, f"failed: {event.message}")
            elif event.status == "stopped":
                self._note(name, "stopped")
            else:  # assembled and verified now, whatever the survey found
                self.rows = [dataclasses.replace(r, status=catalog.READY) if r.name == name else r
                             for r in self.rows]
                self._fill_table()
            self.current = None
            self._next()

    def _note(self, name: str, text: str) -> None:
        self.notes[name] = text
        self._fill_table()

    # ---- table and recommendation -------------------------------------------------------------------

    def _title(self, name: str) -> str:
        return next((r.title for r in self.rows if r.name == name), name)

    def _fill_table(self) -> None:
        self.recommended = model_fit.recommend(self.rows, self.speeds)
        self.table.fill(self.rows, self.speeds, self.notes, self.recommended)
        why = model_fit.reason(self.recommended, self.speeds)
        self.recommendation.setText(f"Recommended: {self._title(self.recommended)}. {why}"
                                    if self.recommended else why)
        self._update_buttons()

    def select(self, name: str) -> None:
        self.table.select(name)

    def selected_name(self) -> str | None:
        return self.table.selected_name()

    def _update_buttons(self) -> None:
        name = self.selected_name()
        row = next((r for r in self.rows if r.name == name), None)
        self.use_button.setEnabled(row is not None and row.installed)
        self.measure_button.setEnabled(self.current is None and not self.queue and bool(self.rows))

    # ---- actions -----------------------------------------------------------------------------------

    def use_selected(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        self.actions.choose_model(name)  # saved, and the engine loads it (now or after the queue)
        self.stage.setText(f"{self._title(name)} will answer your questions.")

    def measure_again(self) -> None:
        self.speeds.clear()
        self.start()

    def closeEvent(self, event: Any) -> None:  # Qt override
        self.cancel()
        super().closeEvent(event)

    def reject(self) -> None:  # Escape
        self.cancel()
        super().reject()

    def cancel(self) -> None:
        """Drop the queue and stop the request in flight; its Done still comes here (and ends it)."""
        self.queue.clear()
        if self.current is not None:
            self.current[0].drop()
