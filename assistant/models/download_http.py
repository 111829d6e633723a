"""The HTTP side of a hub download: build the file URL, open it (following redirects), read the headers.

Plain ``http.client`` rather than huggingface_hub: no import-time side effects, a custom endpoint is just
a string, and the body can be read straight into our own buffer (see ``assistant.models.download``). The hub
answers ``/{repo}/resolve/{revision}/{file}`` with a redirect to its file storage; the first answer
carries ``X-Linked-Etag`` (the LFS file's sha256) and ``X-Linked-Size``, which the redirect target
does not repeat, so redirects are followed here by hand and those headers kept.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "ASSISTANT_HF_ENDPOINT"
TIMEOUT_S = 30.0  # per socket operation: a stalled server becomes a clear error, not a hang
MAX_REDIRECTS = 5
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


class DownloadError(Exception):
    """A download that did not finish; ``str()`` tells the user what happened and what to do.
    ``resumable``: the partial file was kept, and Download again continues where it stopped."""

    def __init__(self, message: str, resumable: bool = False) -> None:
        super().__init__(message)
        self.resumable = resumable


def hub_endpoint(configured: str = "") -> str:
    """The hub to download from: the environment, else the setting, else huggingface.co."""
    value = os.environ.get(ENDPOINT_ENV) or configured or DEFAULT_ENDPOINT
    return value.rstrip("/")


def file_url(endpoint: str, repo_id: str, filename: str, revision: str = "main") -> str:
    repo_id, filename, revision = repo_id.strip(), filename.strip(), (revision.strip() or "main")
    if not _REPO.match(repo_id) or ".." in repo_id:
        raise DownloadError(f"{repo_id!r} is not a repository id; it looks like 'owner/name'")
    parts = filename.split("/")
    if not filename or any(p in ("", ".", "..") for p in parts):
        raise DownloadError(f"{filename!r} is not a file name inside the repository")
    if urlsplit(endpoint).scheme not in ("http", "https"):
        raise DownloadError(f"the hub address {endpoint!r} must start with http:// or https://")
    return f"{endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def sha256_from_etag(value: str | None) -> str | None:
    """The hub's ETag of an LFS file is its sha256 (quoted, sometimes weak); anything else is not."""
    if not value:
        return None
    value = value.strip().removeprefix("W/").strip('"').lower()
    return value if _SHA256.match(value) else None


@dataclass
class Opened:
    """An answer with a body: the response, plus what the redirect chain told us about the file."""

    connection: http.client.HTTPConnection
    response: http.client.HTTPResponse
    url: str
    sha256: str | None  # expected, from X-Linked-Etag / ETag
    etag: str | None  # for If-Range on a later resume
    size: int | None  # of the whole file, when any answer said so

    def close(self) -> None:
        self.connection.close()


def open_url(url: str, headers: dict[str, str]) -> Opened:
    """GET ``url``; follows redirects; raises DownloadError for error answers and unreachable hosts."""
    linked_sha: str | None = None
    linked_size: int | None = None
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = kind(parts.hostname or "", parts.port, timeout=TIMEOUT_S)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", path or "/", headers={**headers, "User-Agent": "assistant"})
            response = conn.getresponse()
        except (socket.gaierror, ConnectionError, TimeoutError, OSError, http.client.HTTPException) as exc:
            conn.close()
            raise DownloadError(f"cannot reach {parts.hostname}: {_reason(exc)}. Check the connection "
                                "(or the hub address in Settings) and try again.", resumable=True) from None
        linked_sha = linked_sha or sha256_from_etag(response.getheader("X-Linked-Etag"))
        linked_size = linked_size or _int(response.getheader("X-Linked-Size"))
        if response.status in (301, 302, 303, 307, 308):
            location = response.getheader("Location")
            response.read()
            conn.close()
            if not location:
                raise DownloadError(f"{parts.hostname} sent a redirect without a target")
            url = urljoin(url, location)
            continue
        if response.status >= 400 and response.status != 416:
            conn.close()
            raise DownloadError(_status_message(response.status, response.reason, url))
        etag = response.getheader("ETag")
        sha = linked_sha or sha256_from_etag(etag)
        return Opened(conn, response, url, sha, response.getheader("X-Linked-Etag") or etag, linked_size)
    raise DownloadError(f"too many redirects while opening {url}")


def _status_message(status: int, reason: str, url: str) -> str:
    if status == 404:
        return f"not found on the hub: {url} (check the repository id, the file name and the revision)"
    if status in (401, 403):
        return (f"the hub refused access ({status} {reason}): the repository may be private or gated "
                "(accept its licence on the website first); public files need no login")
    return f"the server answered {status} {reason} for {url}; try again later"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "the name does not resolve (offline?)"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes START-END/TOTAL`` → (START, TOTAL or None); None when absent or malformed."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not match:
        return None
    total = match.group(3)
    return int(match.group(1)), (int(total) if total != "*" else None)
