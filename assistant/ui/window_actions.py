"""Menu and toolbar actions around the chat: export, settings, theme and the model picker."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog

from assistant.history.store import StoreError
from assistant.models.remote_server import remote_choice
from assistant.settings import Settings, save_settings
from assistant.ui.capture.capture_actions import WindowCapture
from assistant.ui.capture.global_capture_key import GlobalCaptureKey
from assistant.ui.chat.controller import ChatController
from assistant.ui.documents.window_documents import WindowDocuments
from assistant.ui.models.model_picker import display_name, model_choices
from assistant.ui.settings.settings_dialog import SettingsDialog
from assistant.ui.theme import apply_theme

logger = logging.getLogger(__name__)

ENGINE_FIELDS = ("model", "context_size", "threads", "gpu_layers", "remote_url", "remote_model",
                 "remote_api_key")
EXPORT_FILTERS = {".md": "Markdown (*.md)", ".json": "JSON (*.json)"}


class WindowActions(QObject):
    def __init__(
        self,
        controller: ChatController,
        data_dir: Path,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self._data_dir = data_dir
        self._settings_path = settings_path
        self.choices: list[tuple[str, str]] = []

        self.window.export_markdown_action.triggered.connect(lambda: self.export(".md"))
        self.window.export_json_action.triggered.connect(lambda: self.export(".json"))
        self.window.settings_action.triggered.connect(self.open_settings)
        self.window.manage_models_action.triggered.connect(self.open_models)
        self.window.browse_models_action.triggered.connect(self.open_browse)
        self.window.model_picker.model_chosen.connect(self.choose_model)
        # View ▸ Documents… and the composer's "Use my documents" toggle, saved like any setting.
        self.documents = WindowDocuments(controller, data_dir, lambda new: self.apply(new, save=True))
        # Capture ▸ Region / Window / Full screen / Camera photo, and the optional global capture key.
        self.capture = WindowCapture(self.window, lambda: self.settings)
        self.global_capture = GlobalCaptureKey(self.capture, lambda: self.settings)
        self.global_capture.sync()

    @property
    def settings(self) -> Settings:
        return self.controller.session.settings

    def refresh_models(self) -> None:
        """Fill the model list (reads the catalogue; run after the window is shown)."""
        self.choices = model_choices(self._data_dir, self.settings.model, remote_choice(self.settings))
        self.window.model_picker.set_choices(self.choices, self.settings.model)

    def choose_model(self, model: str) -> None:
        if model != self.settings.model:
            self.apply(dataclasses.replace(self.settings, model=model), save=True)

    def open_models(self) -> None:
        """Models ▸ Manage models…; the picker is refilled whenever a file comes or goes."""
        from assistant.ui.models.models_dialog import ModelsDialog  # deferred: only needed when opened

        dialog = ModelsDialog(self._data_dir, self.settings.hub_endpoint, self.window)
        dialog.models_changed.connect(self.refresh_models)
        dialog.exec()

    def open_browse(self) -> None:
        """Models ▸ Browse…: the hub browser; a downloaded model appears in the picker at once and
        "Use this model" chooses it."""
        from assistant.ui.models.browse_dialog import BrowseDialog  # deferred: only needed when opened

        dialog = BrowseDialog(self._data_dir, self.settings.hub_endpoint, self.window,
                              vram_mb=self.controller.vram_mb)
        dialog.models_changed.connect(self.refresh_models)
        dialog.model_chosen.connect(self.choose_model)
        dialog.exec()

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.choices, self.window, self._settings_path)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.saved_settings is not None:
            self.apply(dialog.saved_settings, save=False)  # the dialog already saved them

    def apply(self, new: Settings, *, save: bool) -> None:
        """Use new settings now; reload the model when an engine setting changed."""
        old = self.settings
        if save:
            try:
                save_settings(new, self._settings_path)
            except OSError as error:
                logger.warning("Settings not saved: %s", error)
                self.window.status.show_error(
                    f"Your settings could not be saved ({error}); they apply until you quit."
                )
        self.controller.session.apply_settings(new)
        self.documents.sync()
        self.capture.sync()
        self.global_capture.sync()
        if new.theme != old.theme:
            dark = new.theme == "dark"
            app = QApplication.instance()
            if isinstance(app, QApplication):
                apply_theme(app, dark)
            self.window.chat_view.set_dark(dark)
        if new.model != old.model:
            self.window.model_picker.set_choices(self.choices, new.model)
            if self.window.model_picker.current_model() != new.model:
                self.refresh_models()
        elif remote_choice(new) != remote_choice(old):  # the remote entry appeared or was renamed
            self.refresh_models()
        self.window.status.set_model(display_name(new.model))
        if any(getattr(new, name) != getattr(old, name) for name in ENGINE_FIELDS):
            self.controller.preload()

    def export(self, suffix: str) -> None:
        conversation_id = self.controller.current_conversation_id
        store = self.controller.store
        status = self.window.status
        if store is None or conversation_id is None:
            status.show_error("Open a saved chat first, then export it.")
            return
        try:
            title = store.get_conversation(conversation_id).title
        except StoreError as error:
            status.show_error(str(error))
            return
        safe = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in title).strip() or "chat"
        name, _ = QFileDialog.getSaveFileName(
            self.window, "Export chat", str(Path.home() / f"{safe}{suffix}"), EXPORT_FILTERS[suffix]
        )
        if not name:
            return
        path = Path(name)
        if path.suffix.lower() not in EXPORT_FILTERS:
            path = path.with_name(path.name + suffix)
        self.export_to(path)

    def export_to(self, path: Path) -> None:
        from assistant.history.export import export_conversation  # deferred: only needed when exporting

        conversation_id = self.controller.current_conversation_id
        if self.controller.store is None or conversation_id is None:
            return
        try:
            export_conversation(self.controller.store, conversation_id, path)
        except (StoreError, OSError, ValueError) as error:
            self.window.status.show_error(f"The chat could not be exported: {error}")
            return
        self.window.status.show_info(f"Exported to {path}")
