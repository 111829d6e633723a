"""Curated picks: the catalogue's real entries, and installing pick-like test entries from a local hub.

The hub is `assistant.bench.local_hub` on 127.0.0.1 (through tests/hub_server.py); the test picks live in a
catalogue of their own (ASSISTANT_EXTRA_CATALOG), never in models/catalog.toml.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import LocalHub, random_file
from pick_catalog import file_entry, folder_entry, serve_folder, sha256, write_catalog
from vision_files import write_model, write_projector

from assistant.models import catalog
from assistant.models.catalog import NOT_DOWNLOADED, READY, ModelError
from assistant.models.download import DownloadCancelled
from assistant.models.download_http import DownloadError
from assistant.models.fit import HEADROOM_MB
from assistant.models.pick_files import staging_dir
from assistant.models.picks import find_pick, install, offered
from assistant.models.vision_pairing import chat_model_pair

REPO = "tester/picks"


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def use_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *blocks: str) -> None:
    monkeypatch.setenv(catalog.EXTRA_CATALOG_ENV, str(write_catalog(tmp_path / "picks.toml", *blocks)))


def pick(name: str) -> catalog.ModelEntry:
    return next(e for e in catalog.load_catalog() if e.name == name)


# --- the real picks ----------------------------------------------------------------------------------

def test_the_catalogue_offers_one_pick_per_need_with_what_fit_and_the_first_run_need() -> None:
    picks = {e.name: e for e in offered()}
    roles = sorted(e.role for e in picks.values())
    assert roles == ["chat", "chat", "chat", "clip", "stt"]
    for entry in picks.values():
        assert entry.source == "hub" and re.fullmatch(r"[\w.-]+/[\w.-]+", entry.repo or "")
        assert entry.revision == "main" or re.fullmatch(r"[0-9a-f]{40}", entry.revision), entry.name
        assert entry.size and entry.ram_mb and entry.licence != "unknown" and entry.notes
        assert "test" not in entry.tags
        for spec in entry.file_specs():
            assert spec.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
            assert spec.remote and not spec.remote.startswith("/")
    # One for 8 GB and one for 16 GB machines: each needs at most half the memory, the rest being the
    # system's and the user's other programs' (fit.HEADROOM_MB is the app's own slack).
    chats = sorted((e for e in picks.values() if e.role == "chat" and not e.projector),
                   key=lambda e: e.ram_mb)
    assert chats[0].ram_mb + HEADROOM_MB <= 4000 < chats[1].ram_mb + HEADROOM_MB <= 8000
    vision = next(e for e in picks.values() if e.projector)
    assert vision.projector.target.startswith("mmproj-") and vision.projector.remote
    clip = next(e for e in picks.values() if e.role == "clip")
    assert {s.target for s in clip.files} >= {
        "config.json", "visual/model.onnx", "visual/preprocess_cfg.json", "textual/model.onnx",
        "textual/tokenizer.json", "textual/tokenizer_config.json"}
    whisper = next(e for e in picks.values() if e.role == "stt")
    assert {s.target for s in whisper.files} >= {"model.bin", "config.json", "tokenizer.json"}


def test_picks_are_listed_as_not_downloaded_and_say_how(data_dir: Path) -> None:
    entry = pick("llama-3.2-3b-instruct")
    status, reason = catalog.status_detail(entry, data_dir)
    assert status == NOT_DOWNLOADED and "assistant models install llama-3.2-3b-instruct" in reason
    with pytest.raises(ModelError, match="not downloaded yet"):
        catalog.ensure_model(entry, data_dir)
    table = catalog.format_models_table(catalog.all_models(data_dir), data_dir)
    assert re.search(r"clip-vit-b-32-openai\s+clip\s+607\s+not downloaded", table)


def test_a_malformed_pick_is_refused(tmp_path: Path) -> None:
    base = ('[[model]]\nname = "x"\nrole = "clip"\nsource = "hub"\nrepo = "a/b"\nfilename = "x"\n'
            '[[model.files]]\ntarget = "{}"\n')
    for bad in ("../escape.onnx", "/etc/passwd", "a//b"):
        path = write_catalog(tmp_path / "bad.toml", base.format(bad))
        with pytest.raises(ModelError, match="not a plain relative file name"):
            catalog.load_catalog(path)
    missing_repo = write_catalog(tmp_path / "bad2.toml", '[[model]]\nname = "y"\nrole = "chat"\n'
                                 'source = "hub"\nfilename = "y.gguf"\n')
    with pytest.raises(ModelError, match="missing field 'repo'"):
        catalog.load_catalog(missing_repo)


# --- installing from the local hub ---------------------------------------------------------------------

def served_model(hub: LocalHub, tmp_path: Path, name: str = "tiny-chat.gguf") -> Path:
    (tmp_path / "hub").mkdir(exist_ok=True)
    path = write_model(tmp_path / "hub" / name, name="tiny chat")
    hub.add(REPO, name, path)
    return path


def test_a_chat_pick_installs_into_the_models_folder_and_is_listed_once(
        hub: LocalHub, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = served_model(hub, tmp_path)
    use_catalog(monkeypatch, tmp_path, file_entry("tiny-chat", REPO, source))
    entry = find_pick("tiny-chat", data_dir)
    assert "tiny-chat" not in [e.name for e in offered()]  # tagged "test": never offered to users
    reports: list[tuple[str, int, int]] = []
    path = install(entry, data_dir, endpoint=hub.endpoint, progress=lambda *r: reports.append(r))
    assert path == data_dir / "models" / "tiny-chat.gguf" and path.read_bytes() == source.read_bytes()
    assert reports[-1][1] == reports[-1][2] == source.stat().st_size
    assert not staging_dir(entry, data_dir).exists()
    listed = [e for e in catalog.all_models(data_dir) if e.path == path]
    assert [(e.name, e.source) for e in listed] == [("tiny-chat", "user-file")]  # the pick, by path
    assert catalog.find_model("tiny-chat", data_dir).path == path
    assert catalog.model_status(entry, data_dir) == READY
    before = len(hub.requests)
    assert install(entry, data_dir, endpoint=hub.endpoint) == path  # installed: nothing fetched again
    assert len(hub.requests) == before


def test_a_sha256_mismatch_is_refused_and_nothing_is_installed(
        hub: LocalHub, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = served_model(hub, tmp_path)
    use_catalog(monkeypatch, tmp_path, file_entry("tiny-chat", REPO, source, sha="0" * 64))
    entry = find_pick("tiny-chat", data_dir)
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        install(entry, data_dir, endpoint=hub.endpoint)
    assert not info.value.resumable
    assert not (data_dir / "models" / "tiny-chat.gguf").exists()
    assert not list(staging_dir(entry, data_dir).rglob("*.part"))
    assert catalog.model_status(entry, data_dir) == NOT_DOWNLOADED


def folder_pick(hub: LocalHub, tmp_path: Path, size: int = 9_000_000) -> Path:
    folder = tmp_path / "hub" / "speech"
    (folder / "sub").mkdir(parents=True)
    random_file(folder / "model.bin", size)
    (folder / "config.json").write_text('{"a": 1}', encoding="utf-8")
    (folder / "sub" / "tokenizer.json").write_text('{"b": 2}', encoding="utf-8")
    serve_folder(hub, REPO, folder)
    return folder


def test_an_interrupted_folder_install_resumes_where_it_stopped(
        hub: LocalHub, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = folder_pick(hub, tmp_path)
    use_catalog(monkeypatch, tmp_path, folder_entry("tiny-speech", "stt", REPO, folder))
    entry = find_pick("tiny-speech", data_dir)
    hub.switches.drop_after = 4_000_000
    with pytest.raises(DownloadError) as info:
        for _ in range(3):  # the small files arrive whole; the big one breaks off
            install(entry, data_dir, endpoint=hub.endpoint)
    assert info.value.resumable
    status, reason = catalog.status_detail(entry, data_dir)
    assert status == NOT_DOWNLOADED and "resumes" in reason
    assert not (data_dir / "models" / "whisper" / "tiny-speech").exists()  # never half a model
    hub.switches.drop_after = None
    asked = len(hub.requests)
    home = install(entry, data_dir, endpoint=hub.endpoint)
    assert home == data_dir / "models" / "whisper" / "tiny-speech"
    ranges = [r.get("Range") for r in hub.requests[asked:] if r["path"].startswith("/cdn/")]
    # config.json arrived before the break and is not fetched again; model.bin resumes; the file after it
    # comes whole.
    assert ranges == ["bytes=4000000-", None]
    for path in folder.rglob("*"):
        if path.is_file():
            assert (home / path.relative_to(folder)).read_bytes() == path.read_bytes()
    assert not list(home.rglob("*.part")) and not (home / ".partial").exists()
    assert catalog.ensure_model(entry, data_dir) == home
    assert catalog.status_detail(entry, data_dir) == (READY, "")


def test_cancel_keeps_the_part_and_a_pick_larger_than_the_disk_is_refused_first(
        hub: LocalHub, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = folder_pick(hub, tmp_path)
    huge = folder_entry("huge-speech", "stt", REPO, folder, size=10**15)
    use_catalog(monkeypatch, tmp_path, folder_entry("tiny-speech", "stt", REPO, folder), huge)
    with pytest.raises(DownloadError, match="not enough disk space") as info:
        install(find_pick("huge-speech", data_dir), data_dir, endpoint=hub.endpoint)
    assert "nothing was downloaded" in str(info.value) and hub.requests == []
    cancel = threading.Event()

    def stop_midway(_stage: str, done: int, _total: int) -> None:
        if done > 2_000_000:
            cancel.set()

    entry = find_pick("tiny-speech", data_dir)
    with pytest.raises(DownloadCancelled):
        install(entry, data_dir, endpoint=hub.endpoint, progress=stop_midway, cancel=cancel)
    assert list(staging_dir(entry, data_dir).rglob("*.part"))
    assert install(entry, data_dir, endpoint=hub.endpoint).is_dir()


def test_a_vision_pick_brings_its_projector_under_the_model_name(
        hub: LocalHub, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hub" / "other").mkdir(parents=True)
    model = write_model(tmp_path / "hub" / "tiny-vl-Q4_K_M.gguf", width=64, name="tiny vl")
    projector = write_projector(tmp_path / "hub" / "mmproj-model-f16.gguf", out_dim=64)
    wrong = write_projector(tmp_path / "hub" / "other" / "mmproj-model-f16.gguf", out_dim=32)
    hub.add(REPO, model.name, model)
    hub.add(REPO, "mmproj-model-f16.gguf", projector)
    hub.add("tester/wrong", model.name, model)
    hub.add("tester/wrong", "mmproj-model-f16.gguf", wrong)
    block = file_entry("tiny-vl", REPO, model) + (
        'projector = { file = "mmproj-model-f16.gguf", target = "mmproj-tiny-vl-f16.gguf" }\n')
    mismatched = block.replace('"tiny-vl"', '"tiny-vl-wrong"').replace(REPO, "tester/wrong")
    use_catalog(monkeypatch, tmp_path, block, mismatched)
    with pytest.raises(ModelError, match=r"do not make a usable model \(.*size 32.*expects 64"):
        install(find_pick("tiny-vl-wrong", data_dir), data_dir, endpoint=hub.endpoint)
    assert not (data_dir / "models" / "mmproj-tiny-vl-f16.gguf").exists()
    path = install(find_pick("tiny-vl", data_dir), data_dir, endpoint=hub.endpoint)
    placed = data_dir / "models" / "mmproj-tiny-vl-f16.gguf"
    assert placed.read_bytes() == projector.read_bytes()
    recorded = (data_dir / "models" / "mmproj-tiny-vl-f16.gguf.sha256").read_text().split()[0]
    assert recorded == sha256(projector)
    pair = chat_model_pair("tiny-vl", data_dir)
    assert pair is not None and pair.model == path and pair.mmproj == placed
