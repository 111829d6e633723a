"""A hub look-alike on 127.0.0.1 for download tests (the server itself: assistant/bench/local_hub.py,
shared with `assistant bench download`), and a helper that runs a script in a user+mount namespace where
a small tmpfs gives a real full disk and a read-only remount a real read-only folder (we run as root,
so chmod would not stop us)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.bench.local_hub import LocalHub, Switches

REPO = "tester/tiny-models"


def random_file(path: Path, size: int, seed: int = 0) -> Path:
    """Bytes that do not compress or repeat, so a splice at the wrong offset changes the hash."""
    import random

    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def run_in_namespace(tmp: Path, script: str, *, tmpfs_mb: int = 2, read_only: bool = False,
                     timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """Runs ``script`` (Python) with ``tmp/mnt`` a fresh tmpfs of ``tmpfs_mb`` (remounted read-only
    when asked) in a private mount namespace; skips when unshare is not permitted here."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed: no way to mount a small or read-only folder")
    mnt = tmp / "mnt"
    mnt.mkdir(exist_ok=True)
    probe = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "tmpfs", str(mnt)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"user+mount namespaces are not permitted here: {probe.stderr.strip()}")
    script_path = tmp / "inside.py"
    script_path.write_text(script, encoding="utf-8")
    remount = f" && mkdir -p {mnt}/models && mount -o remount,ro {mnt}" if read_only else ""
    shell = (f"mount -t tmpfs -o size={tmpfs_mb}m tmpfs {mnt}{remount} && "
             f"exec {sys.executable} {script_path}")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True,
                          timeout=timeout, env=env)


__all__ = ["REPO", "LocalHub", "Switches", "random_file", "run_in_namespace"]
