"""The downloader against a real HTTP server on 127.0.0.1 that answers like the hub (redirect,
X-Linked-Etag, Range), including the ways a real transfer goes wrong."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import REPO, LocalHub, random_file
from vision_files import write_model

from assistant.models.download import DownloadCancelled, HubFile, download, partial_path
from assistant.models.download_http import DownloadError, file_url, hub_endpoint

SIZE = 10_000_000  # over two 4 MiB reads, so cancel and resume land mid-file


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


@pytest.fixture
def served(hub: LocalHub, tmp_path: Path) -> Path:
    source = random_file(tmp_path / "weights.bin", SIZE)
    hub.add(REPO, "weights.bin", source)
    return source


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_complete_download_is_verified_and_renamed(hub: LocalHub, served: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    reports: list[tuple[str, int, int]] = []
    path = download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint,
                    progress=lambda *r: reports.append(r))
    assert path == models / "weights.bin"
    assert path.read_bytes() == served.read_bytes()
    assert (models / "weights.bin.sha256").read_text().split()[0] == sha(served)
    assert not partial_path(models, "weights.bin").exists()
    assert hub.requests[0]["path"] == f"/{REPO}/resolve/main/weights.bin"  # then the redirect
    assert reports[-1] == ("Downloading weights.bin", SIZE, SIZE)
    assert [r[1] for r in reports] == sorted(r[1] for r in reports)
    assert hub.served == SIZE


def test_interrupted_download_resumes_without_fetching_bytes_again(
        hub: LocalHub, served: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    hub.switches.drop_after = 3_000_000
    with pytest.raises(DownloadError, match="resumes") as info:
        download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    assert info.value.resumable
    assert partial_path(models, "weights.bin").stat().st_size == 3_000_000
    assert not (models / "weights.bin").exists()  # no half model in the list

    hub.switches.drop_after = None
    path = download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    assert path.read_bytes() == served.read_bytes()
    assert hub.served == SIZE  # each byte crossed the wire once
    assert hub.requests[-1]["Range"] == "bytes=3000000-"


def test_a_server_that_ignores_range_restarts_cleanly(hub: LocalHub, served: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    hub.switches.drop_after = 2_000_000
    with pytest.raises(DownloadError):
        download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    hub.switches.drop_after, hub.switches.ignore_range = None, True
    path = download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    assert path.read_bytes() == served.read_bytes()  # not the first 2 MB twice
    assert hub.served == 2_000_000 + SIZE


def test_a_file_changed_on_the_hub_is_not_spliced(hub: LocalHub, served: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    hub.switches.drop_after = 2_000_000
    with pytest.raises(DownloadError):
        download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    hub.switches.drop_after = None
    newer = hub.add(REPO, "weights.bin", random_file(tmp_path / "newer.bin", SIZE, seed=7))
    path = download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    assert sha(path) == newer  # If-Range saw another ETag: the whole new file, no mix


def test_wrong_bytes_are_refused_and_removed(hub: LocalHub, served: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    hub.switches.wrong_bytes = True
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    assert not info.value.resumable
    assert not (models / "weights.bin").exists()
    assert not partial_path(models, "weights.bin").exists()


def test_a_user_given_sha256_is_checked(hub: LocalHub, served: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    with pytest.raises(DownloadError, match=f"expected {'0' * 64}"):
        download(HubFile(REPO, "weights.bin", sha256="0" * 64), models, endpoint=hub.endpoint)
    assert not partial_path(models, "weights.bin").exists()
    path = download(HubFile(REPO, "weights.bin", sha256=sha(served).upper()), models, endpoint=hub.endpoint)
    assert path.is_file()
    with pytest.raises(DownloadError, match="not a sha256"):
        download(HubFile(REPO, "other.bin", sha256="abc"), models, endpoint=hub.endpoint)


def test_a_truncated_body_is_refused(hub: LocalHub, served: Path, tmp_path: Path) -> None:
    """The server closes early and never said how long the body was (no redirect with X-Linked-Size,
    no Content-Length): only the hash can tell."""
    models = tmp_path / "models"
    hub.switches.redirect, hub.switches.no_length, hub.switches.drop_after = False, True, 5_000_000
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    assert not partial_path(models, "weights.bin").exists()


def test_a_truncated_gguf_without_any_checksum_is_refused(hub: LocalHub, tmp_path: Path) -> None:
    model = write_model(tmp_path / "tiny.gguf")
    hub.add(REPO, "tiny.gguf", model)
    hub.switches.etag, hub.switches.no_length, hub.switches.redirect = False, True, False
    hub.switches.drop_after = model.stat().st_size - 100
    models = tmp_path / "models"
    with pytest.raises(DownloadError, match=r"not a usable GGUF.*truncated"):
        download(HubFile(REPO, "tiny.gguf"), models, endpoint=hub.endpoint)
    assert list(models.glob("*.gguf")) == []
    hub.switches.drop_after = None
    path = download(HubFile(REPO, "tiny.gguf"), models, endpoint=hub.endpoint)
    assert path.read_bytes() == model.read_bytes()


def test_cancel_from_another_thread_keeps_the_part_for_resume(
        hub: LocalHub, served: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    cancel, started = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint,
                     progress=lambda *_r: (started.set(), cancel.wait()), cancel=cancel)
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(30)
    cancel.set()  # the GUI's Cancel button does this
    worker.join(30)
    assert len(failure) == 1 and isinstance(failure[0], DownloadCancelled)
    kept = partial_path(models, "weights.bin").stat().st_size
    assert 0 < kept < SIZE
    path = download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    assert path.read_bytes() == served.read_bytes()
    assert hub.requests[-1]["Range"] == f"bytes={kept}-"


@pytest.mark.parametrize(("status", "words"), [(404, "not found"), (401, "private or gated")])
def test_error_answers_say_what_to_do(hub: LocalHub, tmp_path: Path, status: int, words: str) -> None:
    hub.switches.status = status
    with pytest.raises(DownloadError, match=words):
        download(HubFile(REPO, "weights.bin"), tmp_path / "models", endpoint=hub.endpoint)


def test_a_missing_file_is_404_too(hub: LocalHub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="check the repository id"):
        download(HubFile(REPO, "nope.gguf"), tmp_path / "models", endpoint=hub.endpoint)


def test_an_unreachable_hub_is_a_clear_message(tmp_path: Path) -> None:
    with LocalHub() as closed:
        endpoint = closed.endpoint  # a port nobody listens on once the server is stopped
    with pytest.raises(DownloadError, match=r"cannot reach 127\.0\.0\.1"):
        download(HubFile(REPO, "weights.bin"), tmp_path / "models", endpoint=endpoint)


def test_bad_names_and_an_existing_file_are_refused(hub: LocalHub, served: Path, tmp_path: Path) -> None:
    for repo, name in [("../etc", "x.gguf"), ("a/b/c", "x.gguf"), (REPO, "../x.gguf"), (REPO, "")]:
        with pytest.raises(DownloadError):
            download(HubFile(repo, name), tmp_path / "models", endpoint=hub.endpoint)
    models = tmp_path / "models"
    models.mkdir()
    (models / "weights.bin").write_bytes(b"mine")
    with pytest.raises(DownloadError, match="already exists"):
        download(HubFile(REPO, "weights.bin"), models, endpoint=hub.endpoint)
    assert (models / "weights.bin").read_bytes() == b"mine"
    assert hub.requests == []  # refused before connecting


def test_endpoint_comes_from_the_environment_then_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANT_HF_ENDPOINT", raising=False)
    assert hub_endpoint() == "https://huggingface.co"
    assert hub_endpoint("http://mirror.local/") == "http://mirror.local"
    monkeypatch.setenv("ASSISTANT_HF_ENDPOINT", "http://127.0.0.1:9")
    assert hub_endpoint("http://mirror.local") == "http://127.0.0.1:9"
    assert file_url("http://h", "o/r", "dir/m f.gguf", "v1") == "http://h/o/r/resolve/v1/dir/m%20f.gguf"


def test_cli_download_verify_and_remove(hub: LocalHub, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    model = write_model(tmp_path / "tiny.gguf")
    hub.add(REPO, "tiny.gguf", model)
    env = {**os.environ, "ASSISTANT_HF_ENDPOINT": hub.endpoint, "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
           "ASSISTANT_CONFIG_DIR": str(tmp_path / "config")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "assistant", "models", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    done = cli("download", REPO, "tiny.gguf")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "models" / "tiny.gguf").read_bytes() == model.read_bytes()
    assert "Downloading tiny.gguf" in done.stderr
    verified = cli("verify")
    assert "tiny: ok: sha256 matches" in verified.stdout
    refused = cli("download", REPO, "tiny.gguf", "--sha256", "0" * 64)
    assert refused.returncode == 1 and "already exists" in refused.stderr
    assert cli("remove", "tiny").returncode == 0
    assert not (tmp_path / "data" / "models" / "tiny.gguf").exists()
