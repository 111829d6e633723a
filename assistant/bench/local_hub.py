"""A hub look-alike on 127.0.0.1 for the download tests and benchmark (never used by the app itself).

It answers ``/{repo}/resolve/{revision}/{file}`` like huggingface.co: optionally a 302 to a storage
URL carrying ``X-Linked-Etag`` (sha256), ``X-Linked-Size`` and ``X-Repo-Commit``, then the bytes with
``ETag``, ``Range`` and ``If-Range`` support (GET and HEAD, as huggingface_hub's downloader asks). The
hub's JSON API (search, repository info, file tree with LFS sha256 and size) is in
``local_hub_api.py``; what it lists is what ``add`` served, with ``repos[...]`` open to edits (another
licence, a wrong listed size). Switches make it misbehave the ways real networks do: drop the
connection after N bytes, send damaged bytes, ignore Range, omit the length, answer 404/401, send junk
or a flood of results from the API.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from assistant.bench.local_hub_api import COMMIT, RepoMeta, answer

_RESOLVE = re.compile(r"^/(.+)/resolve/([^/]+)/(.+)$")


@dataclass
class Switches:
    drop_after: int | None = None  # close the connection after this many body bytes (one response)
    wrong_bytes: bool = False  # flip the first body byte (same length)
    ignore_range: bool = False  # always answer 200 with the whole file
    no_length: bool = False  # no Content-Length: the body ends when the connection closes
    status: int | None = None  # answer every request with this error status
    redirect: bool = True  # /resolve/ answers 302 to /cdn/ like the hub
    etag: bool = True  # send the sha256 as ETag / X-Linked-Etag
    api_body: bytes | None = None  # every /api/ request gets these bytes (200, JSON content type)
    extra_results: int = 0  # a search answers this many more repositories than asked for
    tree_page: int | None = None  # files per tree page (the hub: 1000, 50 expanded)
    # Send this many body bytes, then wait for `release` (a test's "the transfer is under way, now
    # press Cancel", without timing anything); at most 60 s.
    hold_after: int | None = None
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class LocalHub:
    """Serves ``files`` ({"owner/repo/file.gguf": path}); ``served`` counts body bytes sent."""

    files: dict[str, Path] = field(default_factory=dict)
    repos: dict[str, RepoMeta] = field(default_factory=dict)  # what the API lists
    switches: Switches = field(default_factory=Switches)
    served: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _hashes: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo_id: str, filename: str, path: Path) -> str:
        """Serves ``path`` as ``filename`` of ``repo_id`` (listed by the API too); returns its sha256."""
        key = f"{repo_id}/{filename}"
        self.files[key] = path
        self._hashes.pop(key, None)
        sha = self.sha256(key)
        self.add_repo(repo_id).files[filename] = (path.stat().st_size, sha)
        return sha

    def add_repo(self, repo_id: str, **meta: object) -> RepoMeta:
        """The repository's search metadata (downloads, likes, licence, pipeline_tag, gated, ...)."""
        repo = self.repos.setdefault(repo_id, RepoMeta())
        for name, value in meta.items():
            setattr(repo, name, value)
        return repo

    def sha256(self, key: str) -> str:
        if key not in self._hashes:
            h = hashlib.sha256()
            with open(self.files[key], "rb") as f:
                while chunk := f.read(4 << 20):
                    h.update(chunk)
            self._hashes[key] = h.hexdigest()
        return self._hashes[key]

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalHub:
        hub = self

        class Handler(_Handler):
            owner = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="local-hub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def count(self, n: int) -> None:
        with self._lock:
            self.served += n


class _Handler(BaseHTTPRequestHandler):
    owner: LocalHub

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests assert on behaviour, not on access logs

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        hub, sw = self.owner, self.owner.switches
        hub.requests.append({"path": self.path, "method": self.command,
                             **{k: v for k, v in self.headers.items()}})
        if sw.status:
            self.send_error(sw.status)
            return
        if self.path.startswith("/api/"):
            self._api()
            return
        cdn = self.path.startswith("/cdn/")
        key = self.path[len("/cdn/"):] if cdn else _key(self.path)
        if key is None or key not in hub.files:
            self.send_error(404)
            return
        repo = hub.repos.get("/".join(key.split("/")[:2]))
        if repo is not None and repo.gated and not cdn:
            self._send_bytes(401, b'{"error": "Access to this model is restricted"}',
                             {"X-Error-Code": "GatedRepo", "Content-Type": "application/json"})
            return
        sha, size = hub.sha256(key), hub.files[key].stat().st_size
        if sw.redirect and not cdn:
            self.send_response(302)
            self.send_header("Location", f"/cdn/{key}")
            if sw.etag:
                self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(size))
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send_file(hub.files[key], sha, size, head)

    def _api(self) -> None:
        hub, sw = self.owner, self.owner.switches
        if sw.api_body is not None:
            self._send_bytes(200, sw.api_body, {"Content-Type": "application/json"})
            return
        host, port = self.server.server_address[:2]
        reply = answer(self.path, hub.repos, f"http://{host}:{port}", extra_results=sw.extra_results,
                       page_size=sw.tree_page)
        self._send_bytes(reply.status, reply.body, reply.headers)

    def _send_bytes(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not self.owner.switches.no_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on a large answer
        if self.owner.switches.no_length:
            self.close_connection = True

    def _send_file(self, path: Path, sha: str, size: int, head: bool = False) -> None:
        sw = self.owner.switches
        start = _range_start(self.headers.get("Range"), self.headers.get("If-Range"), f'"{sha}"')
        if sw.ignore_range:
            start = None
        if start is not None and start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        offset = start or 0
        self.send_response(206 if start is not None else 200)
        if start is not None:
            self.send_header("Content-Range", f"bytes {offset}-{size - 1}/{size}")
        if not sw.no_length:
            self.send_header("Content-Length", str(size - offset))
        if sw.etag:
            self.send_header("ETag", f'"{sha}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if head:
            return
        count = size - offset if sw.drop_after is None else min(size - offset, sw.drop_after)
        with open(path, "rb") as f:
            if sw.wrong_bytes:
                self._send_damaged(f, offset, count)
            elif sw.hold_after is not None and sw.hold_after < count:
                self._sendfile(f, offset, sw.hold_after)
                sw.release.wait(60)
                self._sendfile(f, offset + sw.hold_after, count - sw.hold_after)
            else:
                self._sendfile(f, offset, count)
        if count < size - offset:  # a dropped connection: no orderly end of the body
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def _sendfile(self, f: object, offset: int, count: int) -> None:
        fd, sock = f.fileno(), self.connection.fileno()  # type: ignore[attr-defined]
        end = offset + count
        try:
            while offset < end:
                sent = os.sendfile(sock, fd, offset, min(end - offset, 64 << 20))
                if sent == 0:
                    break
                offset += sent
                self.owner.count(sent)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (cancel): nothing to clean up

    def _send_damaged(self, f: object, offset: int, count: int) -> None:
        f.seek(offset)  # type: ignore[attr-defined]
        data = bytearray(f.read(count))  # type: ignore[attr-defined]
        if data:
            data[0] ^= 0xFF
        try:
            self.wfile.write(data)
            self.owner.count(len(data))
        except (BrokenPipeError, ConnectionResetError):
            pass


def _key(path: str) -> str | None:
    match = _RESOLVE.match(path.split("?", 1)[0])
    return f"{match.group(1)}/{match.group(3)}" if match else None


def _range_start(value: str | None, if_range: str | None, etag: str) -> int | None:
    match = re.fullmatch(r"bytes=(\d+)-", (value or "").strip())
    if not match or (if_range is not None and if_range != etag):
        return None  # no range, or the client's copy is of another version: the whole file
    return int(match.group(1))
