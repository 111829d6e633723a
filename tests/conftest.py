"""Shared fixtures: real model files from the PyPI packages named in FACTS.md, isolated app folders."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

import model_files
import pytest

# Nothing in the test-suite may reach a model hub, even by accident.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# On CI a skipped test is a test that did not run: only these may skip there, each for a reason CI
# cannot change (`-rs` in pyproject.toml prints every skip with its reason, on CI and off it).
CI_ALLOWED_SKIPS = (
    # No vision GGUF + projector ships in any package registry; a machine that has one runs it.
    "tests/engines/test_llama_vision.py::test_real_vision_model_names_the_colour",
    # The desktop bundle takes minutes and ~1.5 GB: .ci/run-bundle builds and runs it (README, Set up).
    "tests/packaging/test_bundle_smoke.py::",
)


class _DiskWatch:
    """The disk under the temporary folder: free space at the start and after every test, and the tests
    that failed because it was full. Copies of models are most of what the suite writes; on a disk that
    fills up, tests fail with scattered OSErrors, and the lines at the end of the run say so plainly (CI
    shows the end). The free space after a test can look fine again when the app deleted its part."""

    needed = 3 * 10**9  # the suite's peak was 2.5 GB on 2026-12-07 (README, Set up)
    # ENOSPC, SQLITE_FULL, and the app's own words when it refuses a copy or a download beforehand
    FULL_DISK = ("No space left on device", "disk is full", "not enough disk space", "Free some disk space")
    lowest_free = shutil.disk_usage(tempfile.gettempdir()).free
    after_test = "the start"
    failed_full: ClassVar[list[str]] = []

    @classmethod
    def read(cls, nodeid: str) -> None:
        free = shutil.disk_usage(tempfile.gettempdir()).free
        if free < cls.lowest_free:
            cls.lowest_free, cls.after_test = free, nodeid

    @classmethod
    def note(cls, report: pytest.TestReport) -> None:
        if report.failed and any(text in str(report.longrepr) for text in cls.FULL_DISK):
            cls.failed_full.append(report.nodeid)


def pytest_report_header(config: pytest.Config) -> str:
    return (f"disk: {_DiskWatch.lowest_free / 2**30:.1f} GiB free in {tempfile.gettempdir()}"
            f" (the suite needs about {_DiskWatch.needed / 10**9:.0f} GB)")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _DiskWatch.note(report)


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _DiskWatch.read(nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """The disk's lowest free space and the tests a full disk failed; with CI set, any skip outside
    CI_ALLOWED_SKIPS fails the run (`pytest_sessionfinish` below)."""
    terminalreporter.line(
        f"disk: lowest free space in {tempfile.gettempdir()} was {_DiskWatch.lowest_free / 2**30:.1f} GiB,"
        f" after {_DiskWatch.after_test}"
    )
    if _DiskWatch.failed_full:
        full = _DiskWatch.failed_full
        terminalreporter.line(
            f"disk: FULL: {len(full)} tests failed for want of space, the first {full[0]}; free"
            f" {_DiskWatch.needed / 10**9:.0f} GB and run again",
            red=True,
        )
    unexpected = _unexpected_skips(terminalreporter)
    if os.environ.get("CI") and unexpected:
        terminalreporter.section("skips not allowed on CI")
        for report in unexpected:
            terminalreporter.line(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") and reporter is not None and _unexpected_skips(reporter) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _unexpected_skips(reporter: pytest.TerminalReporter) -> list[pytest.TestReport]:
    return [report for report in reporter.stats.get("skipped", [])
            if not report.nodeid.startswith(CI_ALLOWED_SKIPS)]



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
