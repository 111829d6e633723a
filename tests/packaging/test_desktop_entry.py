"""The freedesktop menu entry and its installer, run for real into a temporary XDG_DATA_HOME."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "packaging" / "assistant.desktop"
INSTALLER = ROOT / "packaging" / "install-desktop-entry"
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
REQUIRED = {"Type": "Application", "Name": "Assistant", "Icon": "assistant", "Terminal": "false"}


def parse_entry(text: str) -> dict[str, str]:
    """A strict reader of the [Desktop Entry] group: the header first, no duplicate or odd lines."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "[Desktop Entry]"
    keys: dict[str, str] = {}
    for line in lines[1:]:
        assert not line.startswith("["), f"unexpected group {line}"
        match = re.fullmatch(r"([A-Za-z0-9-]+(?:\[[^\]]+\])?)=(.*)", line)
        assert match, f"not a key=value line: {line!r}"
        assert match.group(1) not in keys, f"duplicate key {match.group(1)}"
        keys[match.group(1)] = match.group(2)
    return keys


def exec_arguments(value: str) -> list[str]:
    """Undo the two escaping levels of the Desktop Entry spec's Exec key: string, then quoting."""
    unescaped = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(
        m.group(1), m.group(1)), value)
    args, current, quoted, i = [], "", False, 0
    while i < len(unescaped):
        char = unescaped[i]
        if quoted and char == "\\":
            current, i = current + unescaped[i + 1], i + 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            args.append(current)
            current = ""
        else:
            current += char
        i += 1
    assert not quoted, "unbalanced quotes"
    return [*args, current] if current else args


def validate(path: Path) -> None:
    """freedesktop's own validator (Debian desktop-file-utils, installed by .ci/run); on CI its absence
    fails the test rather than silently skipping the check."""
    if shutil.which("desktop-file-validate") is None:
        assert not os.environ.get("CI"), "desktop-file-validate is missing: install desktop-file-utils"
    else:
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and "error" not in result.stdout, result.stdout
    keys = parse_entry(path.read_text(encoding="utf-8"))
    for key, value in REQUIRED.items():
        assert keys[key] == value
    assert keys["Exec"] and keys["Categories"].endswith(";")


def install(data_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"XDG_DATA_HOME": str(data_home)}
    return subprocess.run(["bash", str(INSTALLER), *args], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.fixture
def awkward_executable(tmp_path: Path) -> Path:
    """An executable whose path needs every kind of Exec escaping: a space, $, a quote, a backslash."""
    folder = tmp_path / "My Apps" / 'odd $dir "quoted" back\\slash'
    folder.mkdir(parents=True)
    exe = folder / "assistant"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


def test_template_validates():
    validate(ENTRY)


def test_install_then_uninstall(tmp_path: Path, awkward_executable: Path):
    data = tmp_path / "xdg-data"
    result = install(data, "--exec", str(awkward_executable))
    assert result.returncode == 0, result.stderr
    installed = data / "applications" / "assistant.desktop"
    validate(installed)
    keys = parse_entry(installed.read_text(encoding="utf-8"))
    assert exec_arguments(keys["Exec"]) == [str(awkward_executable)]
    assert keys["TryExec"].replace("\\\\", "\\") == str(awkward_executable)
    icons = [data / "icons" / "hicolor" / f"{s}x{s}" / "apps" / "assistant.png" for s in SIZES]
    icons.append(data / "icons" / "hicolor" / "scalable" / "apps" / "assistant.svg")
    sources = [ICONS / f"assistant-{s}.png" for s in SIZES] + [ICONS / "assistant.svg"]
    for icon, source in zip(icons, sources, strict=True):
        assert icon.read_bytes() == source.read_bytes()

    result = install(data, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not installed.exists()
    assert not any(icon.exists() for icon in icons)


def test_reinstall_replaces_the_entry(tmp_path: Path, awkward_executable: Path):
    data = tmp_path / "xdg-data"
    other = tmp_path / "elsewhere" / "assistant"
    other.parent.mkdir()
    shutil.copy2(awkward_executable, other)
    assert install(data, "--exec", str(awkward_executable)).returncode == 0
    assert install(data, "--exec", str(other)).returncode == 0
    keys = parse_entry((data / "applications" / "assistant.desktop").read_text(encoding="utf-8"))
    assert exec_arguments(keys["Exec"]) == [str(other)]
    assert sorted(p.name for p in (data / "applications").glob("*.desktop")) == ["assistant.desktop"]


def test_no_executable_is_a_clear_error(tmp_path: Path):
    # A checkout's layout without dist/ (this checkout may hold a built bundle the script would find).
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "packaging", checkout / "packaging",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ICONS, checkout / "resources" / "icons")
    data = tmp_path / "xdg-data"
    env = os.environ | {"XDG_DATA_HOME": str(data), "PATH": "/usr/bin:/bin"}  # no `assistant` on it
    result = subprocess.run(["bash", str(checkout / "packaging" / "install-desktop-entry")],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "no assistant executable found" in result.stderr and "--exec" in result.stderr
    assert not (data / "applications" / "assistant.desktop").exists()


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option --bogus"),
    (["--exec"], "--exec needs a path"),
    (["--exec", "/nonexistent/assistant"], "is not an executable file"),
])
def test_bad_arguments_are_refused(tmp_path: Path, args: list[str], message: str):
    result = install(tmp_path / "xdg-data", *args)
    assert result.returncode == 1 and message in result.stderr
    assert not (tmp_path / "xdg-data" / "applications" / "assistant.desktop").exists()
