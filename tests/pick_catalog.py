"""Pick-like catalogue entries for tests: files served by the local hub, written into a catalogue of
their own (``ASSISTANT_EXTRA_CATALOG``), so the real picks in models/catalog.toml stay untouched and
nothing reaches the internet."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hub_server import LocalHub

from assistant.models.catalog import EXTRA_CATALOG_ENV


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def serve_folder(hub: LocalHub, repo: str, folder: Path) -> list[Path]:
    """Every file under ``folder``, served at its relative path; the files, sorted."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        hub.add(repo, path.relative_to(folder).as_posix(), path)
    return files


def folder_entry(name: str, role: str, repo: str, folder: Path, *, with_sha: bool = True,
                 size: int | None = None, tags: tuple[str, ...] = ("test",)) -> str:
    """A [[model]] block installing every file of ``folder`` as a folder pick."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    total = size if size is not None else sum(p.stat().st_size for p in files)
    lines = [
        "[[model]]", f"name = {json.dumps(name)}", f"title = {json.dumps(name + ' (test pick)')}",
        f"role = {json.dumps(role)}", 'source = "hub"', f"repo = {json.dumps(repo)}", 'revision = "main"',
        f"filename = {json.dumps(name)}", f"size = {total}", "ram_mb = 200", 'licence = "test"',
        f"tags = {json.dumps(list(tags))}", "",
    ]
    for path in files:
        lines += ["[[model.files]]", f"target = {json.dumps(path.relative_to(folder).as_posix())}",
                  f"size = {path.stat().st_size}"]
        if with_sha:
            lines.append(f"sha256 = {json.dumps(sha256(path))}")
        lines.append("")
    return "\n".join(lines)


def file_entry(name: str, repo: str, path: Path, *, sha: str | None = None, ram_mb: int = 300,
               size: int | None = None) -> str:
    """A [[model]] block for a one-file chat pick (the file served as ``path.name``)."""
    return "\n".join([
        "[[model]]", f"name = {json.dumps(name)}", f"title = {json.dumps(name + ' (test pick)')}",
        'role = "chat"', 'source = "hub"', f"repo = {json.dumps(repo)}", 'revision = "main"',
        f"file = {json.dumps(path.name)}", f"filename = {json.dumps(path.name)}",
        f"sha256 = {json.dumps(sha or sha256(path))}",
        f"size = {size if size is not None else path.stat().st_size}", f"ram_mb = {ram_mb}",
        'licence = "Apache-2.0"', 'tags = ["test"]', "",
    ])


def write_catalog(path: Path, *blocks: str) -> Path:
    path.write_text("schema = 1\n\n" + "\n".join(blocks), encoding="utf-8")
    return path


def env_for(catalog: Path, hub: LocalHub) -> dict[str, str]:
    return {EXTRA_CATALOG_ENV: str(catalog), "ASSISTANT_HF_ENDPOINT": hub.endpoint}
