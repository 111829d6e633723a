"""Run `python -m assistant …` as a user would: a real subprocess with its own data and config folders."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def run_assistant(
    *args: str,
    data_dir: Path,
    config_dir: Path,
    settings: dict[str, object] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """`settings`, when given, is written as the user's settings.json first."""
    if settings is not None:
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    env = os.environ | {
        "ASSISTANT_DATA_DIR": str(data_dir),
        "ASSISTANT_CONFIG_DIR": str(config_dir),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=timeout,
    )


def stored_messages(data_dir: Path) -> list[tuple[str, str, str]]:
    """(role, text, status) of every message in the history file, oldest first."""
    db = data_dir / "history.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT role, text, status FROM messages ORDER BY id").fetchall()
