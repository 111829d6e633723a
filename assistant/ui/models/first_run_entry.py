"""Help ▸ Hardware and models… and the first start: opens the panel (`ui/first_run.py`, built and
imported on first use: its model-fit and table modules are not needed for the window to appear)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt

if TYPE_CHECKING:
    from assistant.ui.chat.controller import ChatController
    from assistant.ui.models.first_run import FirstRunPanel
    from assistant.ui.window_actions import WindowActions


class FirstRun:
    """Opens the window's one panel (built on first use)."""

    def __init__(self, controller: ChatController, actions: WindowActions, data_dir: Path, **survey_args: Any
                 ) -> None:
        self.controller, self.actions, self.data_dir = controller, actions, Path(data_dir)
        self.survey_args = survey_args  # entries= / bundled=: tests pass a small catalogue
        self.panel: FirstRunPanel | None = None
        controller.window.hardware_action.triggered.connect(lambda: self.open())

    def open(self, on_finished: Callable[[], None] | None = None) -> FirstRunPanel:
        if self.panel is None:
            from assistant.ui.models.first_run import FirstRunPanel  # deferred: see the module docstring

            self.panel = FirstRunPanel(self.controller, self.actions, self.data_dir,
                                       parent=self.controller.window, **self.survey_args)
            self.panel.finished_work.connect(self._reload_chat_model)
        if on_finished is not None:
            self.panel.finished_work.connect(on_finished, Qt.ConnectionType.SingleShotConnection)
        self.panel.show()
        self.panel.raise_()
        self.panel.start()
        self._mark_done()
        return self.panel

    def _mark_done(self) -> None:
        settings = self.controller.session.settings
        if not settings.first_run_done:
            self.actions.apply(dataclasses.replace(settings, first_run_done=True), save=True)

    def _reload_chat_model(self) -> None:
        """Benchmarks unloaded the chat model: load it again so the next question does not wait."""
        if self.panel is not None and self.panel.benchmarked:
            self.panel.benchmarked = False
            if self.controller.engine_started:  # else the engine's own start preloads
                self.controller.preload()
