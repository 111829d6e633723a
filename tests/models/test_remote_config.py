"""The remote server's settings: address parsing, when it is used, and keeping the key private."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from assistant.host.messages import EngineConfig
from assistant.models.remote_server import (
    REMOTE_MODEL,
    RemoteEndpoint,
    RemoteError,
    endpoint_from_settings,
    normalise_base_url,
    remote_choice,
)
from assistant.settings import Settings, load_settings, save_settings


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("localhost:8080", "http://localhost:8080"),
        ("http://192.168.1.20:8080/", "http://192.168.1.20:8080"),
        ("https://llm.example.org/v1", "https://llm.example.org"),
        ("  http://host:9000/proxy/v1/ ", "http://host:9000/proxy"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_addresses_are_normalised(typed: str, expected: str) -> None:
    assert normalise_base_url(typed) == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the server's address first"),
        ("ftp://host", "must start with http:// or https://"),
        ("http://host:99999", "is not a valid number"),
        ("http://host:8080?x=1", "plain http(s)://host:port URL"),
        ("http://", "has no host name"),
    ],
)
def test_bad_addresses_say_what_is_wrong(typed: str, message: str) -> None:
    with pytest.raises(RemoteError, match=re.escape(message)):
        normalise_base_url(typed)


def test_the_endpoint_exists_only_when_the_remote_model_is_chosen(tmp_path: Path) -> None:
    configured = Settings(remote_url="10.0.0.5:8080", remote_model="qwen", remote_api_key="k")
    assert endpoint_from_settings(configured) is None  # configured but not chosen: nothing connects
    assert EngineConfig.from_settings(configured, tmp_path).remote is None
    chosen = Settings(**{**configured.__dict__, "model": REMOTE_MODEL})
    endpoint = EngineConfig.from_settings(chosen, tmp_path).remote
    assert endpoint == RemoteEndpoint("http://10.0.0.5:8080", "qwen", "k")
    assert endpoint is not None and endpoint.label == "Remote: qwen @ 10.0.0.5:8080"
    assert remote_choice(configured) == [(REMOTE_MODEL, "Remote: qwen @ 10.0.0.5:8080")]
    assert remote_choice(Settings()) == []


def test_the_api_key_stays_out_of_reprs_and_the_file_is_private(tmp_path: Path) -> None:
    settings = Settings(model=REMOTE_MODEL, remote_url="host:1", remote_api_key="sekrit")
    path = tmp_path / "settings.json"
    save_settings(settings, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(path).remote_api_key == "sekrit"
    config = EngineConfig.from_settings(settings, tmp_path)
    assert "sekrit" not in repr(settings) and "sekrit" not in repr(config)
