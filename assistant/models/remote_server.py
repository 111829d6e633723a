"""Which OpenAI-compatible server answers when the user picks "Remote server" (plain Python, no I/O).

The remote server is chosen like any model: `Settings.model == REMOTE_MODEL` routes chat to it, and
`Settings.remote_url` / `remote_model` / `remote_api_key` say where it is. Nothing here touches the
network; `engines/remote_chat.py` does, and only for a request the user made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from assistant.settings import Settings

# The value of Settings.model that means "the remote server" (a catalogue name can never contain ':').
REMOTE_MODEL = "remote:server"
REMOTE_PREFIX = "Remote: "  # names shown for the remote model start with this


class RemoteError(Exception):
    """The remote server could not answer; `str()` is a message for the user (never holds the key)."""


@dataclass(frozen=True)
class RemoteEndpoint:
    """Where to send chat requests. Small and picklable: it travels to the engine in EngineConfig."""

    base_url: str  # normalised: scheme://host[:port][/prefix], without a trailing /v1
    model: str = ""  # "" lets the server pick (llama.cpp's server serves one model anyway)
    api_key: str = field(default="", repr=False)  # repr=False: a logged config never shows the key
    connect_timeout_s: float = 10.0
    # Longest silence while waiting for the next piece of the answer (a big prompt on a busy server
    # may take a while before the first token).
    read_timeout_s: float = 120.0

    @property
    def host(self) -> str:
        """host:port as the user would recognise it."""
        return urlsplit(self.base_url).netloc

    @property
    def label(self) -> str:
        """What the model picker and the status bar show: "Remote: <model> @ host"."""
        return f"{REMOTE_PREFIX}{self.model or 'default model'} @ {self.host}"


def normalise_base_url(text: str) -> str:
    """The server's base URL from what the user typed; raises RemoteError saying what is wrong.

    "localhost:8080", "http://host:8080/" and "http://host:8080/v1" all mean the same server.
    """
    url = text.strip()
    if not url:
        raise RemoteError("Enter the server's address first, for example http://192.168.1.20:8080.")
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RemoteError(f"The server address must start with http:// or https:// (got {parts.scheme}://).")
    try:
        port = parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError:
        raise RemoteError(f"The port in {text.strip()!r} is not a valid number.") from None
    if not parts.hostname:
        raise RemoteError(f"{text.strip()!r} has no host name.")
    if parts.query or parts.fragment or parts.username:
        raise RemoteError("The server address must be a plain http(s)://host:port URL.")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:  # an IPv6 literal keeps its brackets
        netloc = f"[{parts.hostname}]" + (f":{port}" if port is not None else "")
    return f"{parts.scheme}://{netloc}{path}"


def endpoint_from_settings(settings: Settings) -> RemoteEndpoint | None:
    """The endpoint when the remote server is the chosen model, else None (nothing will connect).

    An address that does not parse is kept as typed: the engine then answers the question with the
    RemoteError that says what is wrong, instead of silently using a local model.
    """
    if settings.model != REMOTE_MODEL:
        return None
    try:
        base_url = normalise_base_url(settings.remote_url)
    except RemoteError:
        base_url = settings.remote_url.strip()
    return RemoteEndpoint(base_url, settings.remote_model.strip(), settings.remote_api_key.strip())


def remote_choice(settings: Settings) -> list[tuple[str, str]]:
    """The model picker's (value, label) entry for the remote server, once an address is configured."""
    if not settings.remote_url.strip():
        return []
    try:
        base_url = normalise_base_url(settings.remote_url)
    except RemoteError:
        return [(REMOTE_MODEL, f"{REMOTE_PREFIX}{settings.remote_url.strip()} (address not valid)")]
    return [(REMOTE_MODEL, RemoteEndpoint(base_url, settings.remote_model.strip()).label)]
