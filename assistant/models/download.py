"""Downloads one model file from a Hugging Face–style hub, with resume, cancel and a checksum.

Runs only when the user asks (Download in the Models dialog, ``assistant models download``): nothing
else in the app opens a connection. Bytes go to ``<models>/.partial/<name>.part``; a later attempt
re-hashes that part and asks for the rest with ``Range`` (and ``If-Range``, so a file changed on the
hub restarts instead of splicing two versions). The sha256 is computed while writing; a file whose
hash differs from the hub's (``X-Linked-Etag``/``ETag``) or the user's is refused and its partial
removed. Only a finished, verified file is renamed into the models folder, so the model list never
shows half a model.

Speed: the body is read with ``readinto`` into one preallocated 4 MiB buffer, hashed and written from
a memoryview; per-chunk Python work is a few attribute lookups (see ``assistant bench download``).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.models import gguf
from assistant.models.download_http import (
    DownloadError,
    Opened,
    content_range,
    file_url,
    hub_endpoint,
    open_url,
)

log = logging.getLogger(__name__)

PARTIAL_DIR = ".partial"
BUFFER = 4 << 20
PROGRESS_EVERY_S = 0.1  # at most ten progress calls a second, whatever the speed
SPACE_MARGIN = 16 << 20

Progress = Callable[[str, int, int], None]  # (stage, done bytes, total bytes or 0 when unknown)


class DownloadCancelled(DownloadError):
    def __init__(self, name: str) -> None:
        super().__init__(f"download of {name} stopped; the part already downloaded is kept, so "
                         "Download again resumes it", resumable=True)


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    revision: str = "main"
    sha256: str | None = None  # given by the user (or the hub's file listing); overrides the server's
    size: int | None = None  # from the hub's file listing: a server offering another size is refused
    save_as: str | None = None  # the name in the models folder (default: the file's own)

    @property
    def name(self) -> str:
        return self.save_as or self.filename.rsplit("/", 1)[-1]


def partial_path(models_dir: Path, name: str) -> Path:
    return models_dir / PARTIAL_DIR / f"{name}.part"


def download(file: HubFile, models_dir: Path, *, endpoint: str = "", progress: Progress | None = None,
             cancel: threading.Event | None = None) -> Path:
    """Downloads ``file`` into ``models_dir`` and returns its path. Raises DownloadError (with
    ``resumable`` set when a later call can continue) or DownloadCancelled when ``cancel`` is set
    (from any thread)."""
    url = file_url(hub_endpoint(endpoint), file.repo_id, file.filename, file.revision)
    want = (file.sha256 or "").strip().lower() or None
    if want is not None and (len(want) != 64 or any(c not in "0123456789abcdef" for c in want)):
        raise DownloadError(f"{file.sha256!r} is not a sha256 (64 hex digits)")
    dest = models_dir / file.name
    if dest.exists():
        raise DownloadError(f"{dest} already exists; remove it first to download it again")
    part = partial_path(models_dir, file.name)
    with _writable(models_dir, part):
        part.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(2):  # a second time only when the server cannot resume (416)
        done = _resume_point(part, url)
        hasher = hashlib.sha256()
        if done:
            _hash_existing(part, hasher)
        headers = {"Accept-Encoding": "identity"}
        meta = _read_meta(part)
        if done:
            headers["Range"] = f"bytes={done}-"
            if meta.get("etag"):
                headers["If-Range"] = meta["etag"]
        opened = open_url(url, headers)
        try:
            if opened.response.status == 416 and done and _whole_size(opened) == done:
                return _finish(part, dest, hasher.hexdigest(), want or meta.get("sha256") or None, file.size)
            if opened.response.status == 416 and attempt == 0:
                log.info("%s: the server cannot resume from byte %d; starting again", file.name, done)
                _remove(part)
                continue
            done, total = _start_point(opened, done, part)
            if file.size is not None and total is not None and total != file.size:
                _remove(part)
                raise DownloadError(f"the hub lists {file.name} as {file.size:,} bytes but its server "
                                    f"offers {total:,}; nothing was kept. Try again later")
            if done == 0:
                hasher = hashlib.sha256()
            expected = want or opened.sha256 or meta.get("sha256")
            _write_meta(part, url, opened.etag, expected)
            _check_space(models_dir, part, total, done)
            _receive(opened, part, hasher, done, total, file.name, progress, cancel)
        finally:
            opened.close()
        return _finish(part, dest, hasher.hexdigest(), expected, file.size)
    raise DownloadError(f"the server refused to resume {file.name}; try again")


def _whole_size(opened: Opened) -> int | None:
    """The size a 416 answer gives (``Content-Range: bytes */SIZE``): a part that is already whole."""
    value = (opened.response.getheader("Content-Range") or "").strip()
    size = value.removeprefix("bytes */")
    return int(size) if value.startswith("bytes */") and size.isdigit() else None


def _resume_point(part: Path, url: str) -> int:
    """Bytes already on disk for this very URL; a part of another URL is dropped."""
    if not part.is_file():
        return 0
    if _read_meta(part).get("url") != url:
        _remove(part)
        return 0
    return part.stat().st_size


def _start_point(opened: Opened, done: int, part: Path) -> tuple[int, int | None]:
    """(offset the body starts at, size of the whole file); a 200 to a Range request means the
    server ignores ranges (or the file changed): start over from zero."""
    response = opened.response
    length = response.getheader("Content-Length")
    body = int(length) if length and length.isdigit() else None
    if response.status == 206:
        parsed = content_range(response.getheader("Content-Range"))
        if parsed is None or parsed[0] != done:
            raise DownloadError(f"the server sent a different part of the file than asked for "
                                f"({response.getheader('Content-Range')!r}); try again", resumable=True)
        total = parsed[1] or opened.size or (done + body if body is not None else None)
        return done, total
    if response.status != 200:
        raise DownloadError(f"the server answered {response.status} {response.reason}")
    if done:
        log.info("%s: the server sent the whole file instead of the rest; starting over", part.name)
        with _writable(part.parent, part):
            os.truncate(part, 0)
    return 0, body if body is not None else opened.size


def _receive(opened: Opened, part: Path, hasher: Any, done: int, total: int | None,
             name: str, progress: Progress | None, cancel: threading.Event | None) -> None:
    """The hot loop: readinto one buffer, hash it, write it. Nothing else per chunk but a clock read."""
    stage = f"Downloading {name}"
    report = progress or (lambda _s, _d, _t: None)
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    readinto, update = opened.response.readinto, hasher.update
    stopped = cancel.is_set if cancel is not None else (lambda: False)
    next_report = 0.0
    with _writable(part.parent, part, remove_on_full=True), open(part, "ab", buffering=0) as out:
        write = out.write
        try:
            while True:
                try:
                    n = readinto(buf)
                except (OSError, ValueError, http.client.HTTPException):
                    raise DownloadError(f"the connection broke after {done / 1e6:.1f} MB of {name}; "
                                        "Download again resumes it", resumable=True) from None
                if not n:
                    break
                chunk = view[:n]
                update(chunk)
                while chunk:  # an unbuffered write may take less than asked
                    chunk = chunk[write(chunk):]
                done += n
                if stopped():
                    raise DownloadCancelled(name)
                now = time.monotonic()
                if now >= next_report:
                    report(stage, done, total or 0)
                    next_report = now + PROGRESS_EVERY_S
        finally:
            os.fsync(out.fileno())
    report(stage, done, total or 0)
    if total is not None and done < total:
        raise DownloadError(f"the connection closed early: {done} of {total} bytes of {name} arrived; "
                            "Download again resumes it", resumable=True)
    if total is not None and done > total:
        _remove(part)
        raise DownloadError(f"the server sent more bytes than the file has ({done} > {total}); "
                            "the download was removed")


def _finish(part: Path, dest: Path, sha: str, expected: str | None, size: int | None = None) -> Path:
    if size is not None and part.stat().st_size != size:
        got = part.stat().st_size
        _remove(part)
        raise DownloadError(f"size mismatch for {dest.name}: the hub lists {size:,} bytes, {got:,} arrived. "
                            "The file was removed")
    if expected and sha != expected:
        _remove(part)
        raise DownloadError(f"checksum mismatch for {dest.name}: expected {expected}, got {sha}. The "
                            "file is damaged or not the one asked for; it was removed")
    if dest.suffix.lower() == ".gguf":
        try:
            gguf.read_header(part)
        except gguf.GGUFError as exc:
            _remove(part)
            raise DownloadError(f"{dest.name} is not a usable GGUF model ({exc}); it was removed") from None
    with _writable(dest.parent, part):
        os.replace(part, dest)
        (dest.parent / f"{dest.name}.sha256").write_text(f"{sha}  {dest.name}\n", encoding="utf-8")
    _meta_path(part).unlink(missing_ok=True)
    log.info("downloaded %s (sha256 %s)", dest, sha)
    return dest


def _hash_existing(part: Path, hasher: Any) -> None:
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    with open(part, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])


def _check_space(models_dir: Path, part: Path, total: int | None, done: int) -> None:
    if total is None:
        return
    free = shutil.disk_usage(part.parent).free
    if free < total - done + SPACE_MARGIN:
        raise DownloadError(f"not enough disk space: {part.name.removesuffix('.part')} needs "
                            f"{(total - done) / 1e6:.0f} MB more in {models_dir}, only {free / 1e6:.0f} MB "
                            "are free", resumable=done > 0)


class _writable:
    """Turns disk errors into messages: a full disk removes the partial (when asked), a read-only
    or forbidden folder says so."""

    def __init__(self, folder: Path, part: Path, remove_on_full: bool = False) -> None:
        self.folder, self.part, self.remove_on_full = folder, part, remove_on_full

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, _tb: object) -> bool:
        if not isinstance(exc, OSError) or isinstance(exc, DownloadError):
            return False
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            if self.remove_on_full:
                _remove(self.part)
            raise DownloadError(f"the disk is full: the download into {self.folder} was stopped and "
                                "its partial file removed; free some space and try again") from None
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise DownloadError(f"the models folder {self.folder} is read-only or not yours to write "
                                f"({exc.strerror}); choose a writable data folder") from None
        raise DownloadError(f"could not write {self.part}: {exc.strerror or exc}") from None


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_meta(part: Path) -> dict[str, str]:
    try:
        data = json.loads(_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _write_meta(part: Path, url: str, etag: str | None, sha: str | None) -> None:
    record = {"url": url, "etag": etag or "", "sha256": sha or ""}
    with _writable(part.parent, part):
        _meta_path(part).write_text(json.dumps(record), encoding="utf-8")


def _remove(part: Path) -> None:
    for path in (part, _meta_path(part)):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove %s: %s", path, exc)


__all__ = ["DownloadCancelled", "DownloadError", "HubFile", "download", "partial_path"]
