"""Settings → "Remote server": address, model and API key of an OpenAI-compatible server.

Nothing here connects on its own: only the "Test connection" button does (on a worker thread, so the
dialog stays responsive), and the chat only once the user picks the remote model and asks.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from assistant.models.remote_server import RemoteEndpoint, RemoteError, normalise_base_url
from assistant.settings import Settings

logger = logging.getLogger(__name__)

# Shorter than a chat's: the user is waiting in front of the dialog for a yes or no.
TEST_CONNECT_TIMEOUT_S = 5.0
TEST_READ_TIMEOUT_S = 15.0


class RemoteServerGroup(QGroupBox):
    """The dialog's remote server fields plus "Test connection"."""

    # Emitted from the test's worker thread; Qt queues it to this widget in the GUI thread.
    tested = Signal(object, str)  # (list of model ids or None, message)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__("Remote server (OpenAI-compatible: llama.cpp server, vLLM)", parent)
        self.url = QLineEdit(settings.remote_url)
        self.url.setPlaceholderText("http://192.168.1.20:8080")
        self.model = QLineEdit(settings.remote_model)
        self.model.setPlaceholderText("the server's model id (empty: the server's default)")
        self.api_key = QLineEdit(settings.remote_api_key)
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("optional")
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.result = QLabel("Nothing connects until you test or ask the remote model a question.")
        self.result.setObjectName("settingsNote")
        self.result.setWordWrap(True)
        self._closing = threading.Event()  # set when the dialog goes: a running test stops
        self.tested.connect(self._show_result)

        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.result, 1)
        form = QFormLayout(self)
        form.addRow("Address", self.url)
        form.addRow("Model", self.model)
        form.addRow("API key", self.api_key)
        form.addRow("", row)

    def values(self) -> dict[str, str]:
        """The Settings fields this group edits."""
        return {
            "remote_url": self.url.text().strip(),
            "remote_model": self.model.text().strip(),
            "remote_api_key": self.api_key.text().strip(),
        }

    def test_connection(self) -> None:
        """List the server's models on a worker thread; the answer (or the error) shows below."""
        try:
            endpoint = RemoteEndpoint(
                normalise_base_url(self.url.text()), self.model.text().strip(), self.api_key.text().strip(),
                connect_timeout_s=TEST_CONNECT_TIMEOUT_S, read_timeout_s=TEST_READ_TIMEOUT_S,
            )
        except RemoteError as error:
            self._show_result(None, str(error))
            return
        self.test_button.setEnabled(False)
        self.result.setText(f"Connecting to {endpoint.host}…")
        threading.Thread(target=self._test, args=(endpoint,), name="remote-test", daemon=True).start()

    def stop_testing(self) -> None:
        self._closing.set()

    def _test(self, endpoint: RemoteEndpoint) -> None:
        # Worker thread: network only, then one signal back to the GUI thread.
        from assistant.engines.remote_chat import list_models  # standard library only
        from assistant.engines.remote_http import Stopped

        try:
            models: list[str] | None = list_models(endpoint, self._closing.is_set)
            message = _models_message(models or [], endpoint.model)
        except Stopped:
            return  # the dialog closed while waiting
        except RemoteError as error:
            models, message = None, str(error)
        except Exception as error:  # the dialog must survive anything a strange server does
            logger.warning("Test connection failed: %s", type(error).__name__)
            models, message = None, f"The test failed: {type(error).__name__}: {error}"
        if self._closing.is_set():
            return  # the dialog is gone
        with contextlib.suppress(RuntimeError):  # the widget was deleted meanwhile
            self.tested.emit(models, message)

    def _show_result(self, models: list[str] | None, message: str) -> None:
        self.test_button.setEnabled(True)
        self.result.setText(message)
        self.result.setProperty("ok", models is not None)
        if models and not self.model.text().strip():
            self.model.setText(models[0])  # a server with one model: nothing left to type


def _models_message(models: list[str], chosen: str) -> str:
    if not models:
        return "Connected, but the server lists no models."
    shown = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
    if chosen and chosen not in models:
        return f"Connected, but the server does not list {chosen!r}; it offers: {shown}."
    return f"Connected: the server offers {shown}."
