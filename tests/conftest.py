"""Shared fixtures: real model files from the PyPI packages named in FACTS.md, isolated app folders."""

from __future__ import annotations

import os
from pathlib import Path

import model_files
import pytest

# Nothing in the test-suite may reach a model hub, even by accident.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")



@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct (93 MB): the fast real model most tests run on."""
    return model_files.smollm2_path()


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir per test session so the 491 MB default model is assembled at most once."""
    return tmp_path_factory.mktemp("shared-data")


@pytest.fixture
def app_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app's data and config folders at a fresh temporary folder."""
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSISTANT_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path
