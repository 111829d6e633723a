"""The built desktop bundle, run as a user would: `selftest` answers offline, the window paints, and
a fresh data folder's `selftest`, `describe` and `transcribe` work with no network at all.

Slow (PyInstaller needs 2-5 minutes and writes ~1.5 GB; the selftest assembles the 491 MB model), so
normal CI (.ci/run) skips it and `.ci/run-bundle` runs it (README, "Set up"):
    ASSISTANT_BUILD_BUNDLE=1 pytest -m bundle tests/packaging     builds with packaging/build first
    ASSISTANT_BUNDLE=dist/assistant/assistant pytest -m bundle tests/packaging    tests a built one
The bundle runs from a temporary folder with no PYTHONPATH, so nothing from the checkout can help it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import network_audit

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.bundle,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        not (os.environ.get("ASSISTANT_BUILD_BUNDLE") == "1" or os.environ.get("ASSISTANT_BUNDLE")),
        reason="set ASSISTANT_BUILD_BUNDLE=1 (build it) or ASSISTANT_BUNDLE=path (a built bundle)",
    ),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("ASSISTANT_BUNDLE")
    if given:
        executable = Path(given).resolve()
    else:
        out = tmp_path_factory.mktemp("bundle")
        env = os.environ | {"ASSISTANT_VENV": sys.prefix, "ASSISTANT_DIST": str(out / "dist"),
                            "ASSISTANT_BUILD_DIR": str(out / "build")}
        result = subprocess.run([str(ROOT / "packaging" / "build")], env=env, capture_output=True,
                                text=True, timeout=1100)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        executable = out / "dist" / "assistant" / "assistant"
    assert executable.is_file() and os.access(executable, os.X_OK), executable
    return executable


def run_bundle(executable: Path, home: Path, *args: str, extra_env: dict[str, str] | None = None,
               timeout: float = 600, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HF_HUB_OFFLINE")}  # fmt: skip
    env.update(QT_QPA_PLATFORM="offscreen", ASSISTANT_DATA_DIR=str(home / "data"),
               ASSISTANT_CONFIG_DIR=str(home / "config"), **(extra_env or {}))
    return subprocess.run([*prefix, str(executable), *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_bundle_carries_no_torch_and_its_own_data(bundle: Path):
    internal = bundle.parent / "_internal"
    assert not (internal / "torch").exists() and not (internal / "open_clip").exists()
    assert not (internal / "setuptools").exists()  # its start-up hook would delay the window
    assert (internal / "models" / "catalog.toml").is_file()
    assert (internal / "resources" / "clip_labels.txt").is_file()
    assert (bundle.parent / "install-desktop-entry").is_file()


def test_bundled_models_are_found(bundle: Path, tmp_path: Path):
    """find_spec() inside the frozen app sees the weight packages: the defaults are not 'missing'."""
    result = run_bundle(bundle, tmp_path, "models", timeout=120)
    assert result.returncode == 0, result.stderr
    installed = result.stdout.split("\n\n", 1)[0]  # the catalogue's table; recommended downloads follow
    rows = {line.split()[0]: line for line in installed.splitlines()[1:]}
    for name in ("qwen2.5-coder-0.5b-instruct", "whisper-base", "piper-joe-medium"):
        assert "missing" not in rows[name] and "bad checksum" not in rows[name], rows[name]


def test_selftest_answers_offline(bundle: Path, tmp_path: Path):
    """The engine process is the bundle's own executable re-entered by multiprocessing spawn."""
    result = run_bundle(bundle, tmp_path, "selftest")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selftest OK" in result.stdout and "network attempts: 0" in result.stdout


def test_window_paints(bundle: Path, tmp_path: Path):
    result = run_bundle(bundle, tmp_path, extra_env={"ASSISTANT_EXIT_AFTER_SHOWN": "1"}, timeout=120)
    assert result.returncode == 0, result.stderr
    shown = [line for line in result.stdout.splitlines() if line.startswith("window-shown")]
    assert len(shown) == 1 and float(shown[0].split()[1]) > 0


def test_a_fresh_data_folder_selftest_describe_and_transcribe_work_with_no_network(
    bundle: Path, tmp_path: Path
) -> None:
    """In a network namespace with no interfaces (`unshare -rn`): native code that bypassed Python's
    audit would fail here instead of silently succeeding. Each command starts from an empty data
    folder, so the bundled models are assembled inside the bundle's own files, offline."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=30)
    assert probe.returncode == 0, f"unshare -rn is not permitted here: {probe.stderr!r}"
    sys.path.insert(0, str(ROOT / "tests"))
    from error_screenshot import MESSAGE, save_error_dialog

    shot = save_error_dialog(tmp_path / "error dialog.png")
    speech = ROOT / "tests" / "data" / "speech" / "jfk.wav"  # real recorded speech (public domain)
    commands = {"selftest": ["selftest"], "describe": ["describe", str(shot)],
                "transcribe": ["transcribe", str(speech)]}  # fmt: skip
    for name, args in commands.items():
        home = tmp_path / name
        home.mkdir()
        audit = home / "network.log"
        result = run_bundle(bundle, home, *args, prefix=("unshare", "-rn"),
                            extra_env={"ASSISTANT_NETWORK_AUDIT": str(audit)})  # fmt: skip
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        assert audit.exists(), f"{name}: the audit never ran (a missing log proves nothing)"
        assert network_audit.audited_processes(audit) and network_audit.read_attempts(audit) == [], name
        if name == "selftest":
            assert "selftest OK" in result.stdout and "network attempts: 0" in result.stdout
        elif name == "describe":
            assert MESSAGE in result.stdout, result.stdout
        else:
            assert "fellow americans" in result.stdout.lower(), result.stdout
