"""Settings → Remote server and the model picker's remote entry, offscreen, against local HTTP servers."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import remote_servers
from remote_servers import ScriptedServer

from assistant.models.remote_server import REMOTE_MODEL
from assistant.ui.settings.settings_dialog import SettingsDialog

WAIT_MS = 60_000


def test_remote_section_tests_the_connection_saves_privately_and_adds_a_picker_entry(
    qtbot, make_app, app_dirs: Path
) -> None:
    parts = make_app(engine=False)
    settings_path = app_dirs / "config" / "settings.json"
    with ScriptedServer(remote_servers.fake_openai(["tiny-model"], ["unused"])) as server:
        dialog = SettingsDialog(parts.session.settings, parts.actions.choices, parts.window, settings_path)
        qtbot.addWidget(dialog)
        remote = dialog.remote
        remote.url.setText(f"127.0.0.1:{server.port}/v1")  # scheme and /v1 are optional
        remote.api_key.setText("sekrit-key")
        assert server.connections == 0  # typing an address connects nowhere

        remote.test_button.click()
        qtbot.waitUntil(lambda: remote.test_button.isEnabled(), timeout=WAIT_MS)
        assert remote.result.text() == "Connected: the server offers tiny-model."
        assert remote.model.text() == "tiny-model"  # filled in from the server's list
        request = server.requests[0]
        assert request.startswith(b"GET /v1/models HTTP/1.1\r\n")
        assert b"\r\nAuthorization: Bearer sekrit-key\r\n" in request

        dialog.accept()
        assert dialog.saved_settings is not None
        parts.actions.apply(dialog.saved_settings, save=False)

    saved = json.loads(settings_path.read_text())
    assert (saved["remote_url"], saved["remote_model"], saved["remote_api_key"]) == (
        f"127.0.0.1:{server.port}/v1", "tiny-model", "sekrit-key")
    assert stat.S_IMODE(settings_path.stat().st_mode) == 0o600  # the key is readable by its owner only
    assert "sekrit" not in repr(parts.session.settings)
    picker = parts.window.model_picker
    index = picker.findData(REMOTE_MODEL)
    assert picker.itemText(index) == f"Remote: tiny-model @ 127.0.0.1:{server.port}"
    assert parts.session.settings.model != REMOTE_MODEL  # configured, not chosen: chat stays local
    assert server.connections == 1  # only the test


def test_test_connection_explains_a_bad_address_and_a_dead_server(qtbot, make_app) -> None:
    parts = make_app(engine=False)
    dialog = SettingsDialog(parts.session.settings, parts.actions.choices, parts.window)
    qtbot.addWidget(dialog)
    remote = dialog.remote
    remote.url.setText("ftp://example.org")
    remote.test_button.click()
    assert remote.result.text() == "The server address must start with http:// or https:// (got ftp://)."

    url = f"http://127.0.0.1:{remote_servers.closed_port()}"
    remote.url.setText(url)
    remote.test_button.click()
    qtbot.waitUntil(lambda: remote.test_button.isEnabled(), timeout=WAIT_MS)
    assert remote.result.text() == f"Could not reach the server at {url}: is it running?"
    assert parts.window.isVisible()


def test_choosing_the_remote_entry_answers_from_the_server(qtbot, make_app, driver) -> None:
    with ScriptedServer(remote_servers.fake_openai(["m"], ["Hello", " from", " the server."])) as server:
        parts = make_app(remote_url=server.base_url, remote_model="m")
        picker = parts.window.model_picker
        picker.setCurrentIndex(picker.findData(REMOTE_MODEL))  # what a click on the entry does
        assert parts.session.settings.model == REMOTE_MODEL
        label = f"Remote: m @ 127.0.0.1:{server.port}"
        qtbot.waitUntil(lambda: label in parts.window.status.model.text(), timeout=WAIT_MS)
        assert server.connections == 0  # choosing it loads nothing remote

        driver.ask(parts, "Who is there?")
        driver.wait_answered(parts)
    assert parts.store is not None
    conversation = parts.store.list_conversations()[0]
    answer = parts.store.messages(conversation.id)[-1]
    assert (answer.text, answer.status) == ("Hello from the server.", "complete")
    body = json.loads(server.requests[0].partition(b"\r\n\r\n")[2])
    assert body["model"] == "m" and body["stream"] is True
    assert body["messages"][-1] == {"role": "user", "content": "Who is there?"}
