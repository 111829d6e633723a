"""Downloads chosen from a hub listing, against the hub look-alike on 127.0.0.1: a vision model with its
projector (SmolLM2 and a projector llama.cpp really loads), split models, resume, and every refusal
(size or sha256 mismatch, a gated repository, a disk too small) — plus the `models search | files |
download` commands as a user runs them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import LocalHub, random_file, run_in_namespace
from vision_files import write_tiny_llava

from assistant.models import catalog
from assistant.models.download import DownloadCancelled, partial_path
from assistant.models.download_http import DownloadError
from assistant.models.gguf_writer import TensorData, write_gguf
from assistant.models.hub_client import HubClient
from assistant.models.hub_download import fetch, plan
from assistant.models.user_files import remove_model
from assistant.models.vision_pairing import VisionPair, chat_model_pair, find_vision_pair

pytestmark = pytest.mark.timeout(180)

VISION_REPO = "tester/SmolLM2-vision-GGUF"
SPLIT_REPO = "tester/split-GGUF"


def gguf_of_size(path: Path, size: int, seed: int = 0) -> Path:
    """A valid GGUF of about ``size`` bytes whose tensor data does not repeat (a splice at the wrong
    offset changes the hash)."""
    data = random.Random(seed).randbytes(size // 4 * 4)
    return write_gguf(path, {"general.architecture": "llama", "llama.embedding_length": 64},
                      [TensorData("w", (len(data) // 4,), 0, data)])


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


def listing_plan(hub: LocalHub, repo: str, name: str):  # type: ignore[no-untyped-def]
    return plan(HubClient(hub.endpoint).files(repo), name)


def test_a_vision_model_comes_with_its_projector_and_they_pair(
        hub: LocalHub, smollm2_path: Path, app_dirs: Path, tmp_path: Path) -> None:
    hub.add(VISION_REPO, "SmolLM2-135M-Instruct.Q4_1.gguf", smollm2_path)
    hub.add(VISION_REPO, "mmproj-model-f16.gguf", write_tiny_llava(tmp_path / "f16.gguf", out_dim=576))
    other = write_tiny_llava(tmp_path / "bf16.gguf", out_dim=576, seed=1)
    hub.add(VISION_REPO, "mmproj-model-bf16.gguf", other)
    hub.add_repo(VISION_REPO, pipeline_tag="image-text-to-text")
    models = app_dirs / "data" / "models"
    chosen = listing_plan(hub, VISION_REPO, "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert chosen.projector is not None and chosen.projector.name == "mmproj-model-f16.gguf"

    fetched = fetch(chosen, models, endpoint=hub.endpoint)
    projector = models / "mmproj-SmolLM2-135M-Instruct-F16.gguf"  # a generic name would clash later
    assert fetched.files == [models / "SmolLM2-135M-Instruct.Q4_1.gguf", projector]
    assert projector.read_bytes() == (tmp_path / "f16.gguf").read_bytes()
    for path in fetched.files:  # verified against the listing's LFS sha256, recorded for Verify
        key = f"{VISION_REPO}/{'mmproj-model-f16.gguf' if path == projector else path.name}"
        assert (models / f"{path.name}.sha256").read_text().split()[0] == hub.sha256(key)
    assert f"{fetched.model.name} can see images: paired with {projector.name}" in fetched.notes
    pair = find_vision_pair(fetched.model, models)
    assert isinstance(pair, VisionPair) and pair.mmproj == projector
    # The window and `ask` find the pair by the model's name, as the picker lists it.
    assert chat_model_pair("SmolLM2-135M-Instruct.Q4_1", app_dirs / "data") == pair


def test_a_projector_already_downloaded_is_not_fetched_again(hub: LocalHub, tmp_path: Path) -> None:
    projector = write_tiny_llava(tmp_path / "p.gguf", out_dim=64)
    for quant in ("Q4_K_M", "Q8_0"):
        hub.add(VISION_REPO, f"tiny-vl-{quant}.gguf", gguf_of_size(tmp_path / f"{quant}.gguf", 50_000))
    hub.add(VISION_REPO, "mmproj-F16.gguf", projector)
    models = tmp_path / "models"
    fetch(listing_plan(hub, VISION_REPO, "tiny-vl-Q4_K_M.gguf"), models, endpoint=hub.endpoint)
    served = hub.served
    again = fetch(listing_plan(hub, VISION_REPO, "tiny-vl-Q8_0.gguf"), models, endpoint=hub.endpoint)
    assert hub.served - served == (models / "tiny-vl-Q8_0.gguf").stat().st_size  # the model only
    assert "mmproj-tiny-vl-F16.gguf (the projector) was already in the models folder" in again.notes


def split_repo(hub: LocalHub, tmp_path: Path, sizes: tuple[int, int] = (3_000_000, 6_000_000)) -> None:
    for i, size in enumerate(sizes, 1):
        part = gguf_of_size(tmp_path / f"part{i}.gguf", size, seed=i)
        hub.add(SPLIT_REPO, f"Q8_0/big-Q8_0-0000{i}-of-00002.gguf", part)


def test_a_split_model_is_every_part_and_an_interrupted_one_resumes(hub: LocalHub, tmp_path: Path) -> None:
    split_repo(hub, tmp_path)
    models = tmp_path / "models"
    chosen = listing_plan(hub, SPLIT_REPO, "big-Q8_0-00002-of-00002.gguf")  # any part names the set
    assert [p.name for p in chosen.model.parts] == ["big-Q8_0-00001-of-00002.gguf",
                                                    "big-Q8_0-00002-of-00002.gguf"]
    hub.switches.drop_after = 4_000_000  # part 1 (3 MB) arrives whole, part 2 breaks off
    reports: list[tuple[str, int, int]] = []
    with pytest.raises(DownloadError, match="resumes") as info:
        fetch(chosen, models, endpoint=hub.endpoint, progress=lambda *r: reports.append(r))
    assert info.value.resumable
    assert (models / "big-Q8_0-00001-of-00002.gguf").is_file()
    assert partial_path(models, "big-Q8_0-00002-of-00002.gguf").stat().st_size == 4_000_000
    total = chosen.size
    assert {r[2] for r in reports} == {total}  # one bar over both parts
    assert "part 2 of 2" in reports[-1][0]

    hub.switches.drop_after = None
    fetched = fetch(chosen, models, endpoint=hub.endpoint)
    assert fetched.model == models / "big-Q8_0-00001-of-00002.gguf"
    for i in (1, 2):
        served = (tmp_path / f"part{i}.gguf").read_bytes()
        assert (models / f"big-Q8_0-0000{i}-of-00002.gguf").read_bytes() == served
    assert hub.served == total  # every byte crossed the wire once
    # The models list (and so the picker) shows one model, with the size of all its parts.
    listed = catalog.discover_user_models([models])
    assert [(e.name, e.size) for e in listed] == [("big-Q8_0-00001-of-00002", total)]
    removed = remove_model("big-Q8_0-00001-of-00002", tmp_path)  # Remove takes every part
    assert {p.name for p in removed} >= {f"big-Q8_0-0000{i}-of-00002.gguf" for i in (1, 2)}
    assert list(models.glob("*.gguf")) == []


def test_cancel_keeps_the_part(hub: LocalHub, tmp_path: Path) -> None:
    import threading

    split_repo(hub, tmp_path)
    cancel = threading.Event()

    def progress(_stage: str, done: int, _total: int) -> None:
        if done >= 1_000_000:
            cancel.set()  # as the Cancel button does, from another thread

    with pytest.raises(DownloadCancelled) as info:
        fetch(listing_plan(hub, SPLIT_REPO, "big-Q8_0-00001-of-00002.gguf"), tmp_path / "models",
              endpoint=hub.endpoint, progress=progress, cancel=cancel)
    assert info.value.resumable
    parts = [partial_path(tmp_path / "models", f"big-Q8_0-0000{i}-of-00002.gguf") for i in (1, 2)]
    assert sum(p.stat().st_size for p in parts if p.exists()) > 0  # whichever part it was in


def test_a_size_the_listing_does_not_promise_is_refused(hub: LocalHub, tmp_path: Path) -> None:
    hub.add(SPLIT_REPO, "m-Q4_0.gguf", gguf_of_size(tmp_path / "m.gguf", 200_000))
    size, sha = hub.repos[SPLIT_REPO].files["m-Q4_0.gguf"]
    hub.repos[SPLIT_REPO].files["m-Q4_0.gguf"] = (size + 1, sha)  # the listing and the file disagree
    with pytest.raises(DownloadError, match=r"lists m-Q4_0\.gguf as 200,"):
        fetch(listing_plan(hub, SPLIT_REPO, "m-Q4_0.gguf"), tmp_path / "models", endpoint=hub.endpoint)
    assert list((tmp_path / "models").rglob("m-Q4_0*")) == []


def test_bytes_that_do_not_hash_to_the_lfs_sha256_are_refused(hub: LocalHub, tmp_path: Path) -> None:
    hub.add(SPLIT_REPO, "m-Q4_0.gguf", gguf_of_size(tmp_path / "m.gguf", 200_000))
    hub.switches.wrong_bytes = True
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch(listing_plan(hub, SPLIT_REPO, "m-Q4_0.gguf"), tmp_path / "models", endpoint=hub.endpoint)
    assert list((tmp_path / "models").rglob("m-Q4_0*")) == []
    # The listing's sha256 is the one checked, even when the server's own headers agree with the bytes.
    hub.switches.wrong_bytes = False
    size, _sha = hub.repos[SPLIT_REPO].files["m-Q4_0.gguf"]
    hub.repos[SPLIT_REPO].files["m-Q4_0.gguf"] = (size, "0" * 64)
    with pytest.raises(DownloadError, match="expected 0000"):
        fetch(listing_plan(hub, SPLIT_REPO, "m-Q4_0.gguf"), tmp_path / "models", endpoint=hub.endpoint)


def test_what_cannot_be_downloaded_is_refused_before_connecting(hub: LocalHub, tmp_path: Path) -> None:
    hub.add("someone/notes", "README.md", random_file(tmp_path / "r.md", 100))
    hub.add("org/gated-GGUF", "g-Q4_0.gguf", gguf_of_size(tmp_path / "g.gguf", 1000))
    hub.add_repo("org/gated-GGUF", gated=True)
    hub.add(SPLIT_REPO, "torn-Q4_0-00001-of-00003.gguf", gguf_of_size(tmp_path / "t.gguf", 1000))
    with pytest.raises(DownloadError, match="has no GGUF files"):
        listing_plan(hub, "someone/notes", "x.gguf")
    with pytest.raises(DownloadError, match="gated"):
        listing_plan(hub, "org/gated-GGUF", "g-Q4_0.gguf")
    with pytest.raises(DownloadError, match="only 1 of its 3 parts"):
        listing_plan(hub, SPLIT_REPO, "torn-Q4_0-00001-of-00003.gguf")
    with pytest.raises(DownloadError, match=r"no file 'nope\.gguf'"):
        listing_plan(hub, SPLIT_REPO, "nope.gguf")
    assert not any("/resolve/" in r["path"] for r in hub.requests)


FULL_DISK = """
import json
from pathlib import Path
from assistant.models.hub_client import HubClient
from assistant.models.hub_download import fetch, plan
models = Path({mnt!r}) / "models"
chosen = plan(HubClient({endpoint!r}).files({repo!r}), "tiny-vl-Q4_K_M.gguf")
try:
    fetch(chosen, models, endpoint={endpoint!r})
    print(json.dumps({{"error": ""}}))
except Exception as error:
    print(json.dumps({{"error": str(error), "left": [str(p) for p in Path({mnt!r}).rglob("*")]}}))
"""


def test_a_download_larger_than_the_free_disk_is_refused_before_any_byte(
        hub: LocalHub, tmp_path: Path) -> None:
    # Model and projector fit the 8 MB disk one at a time, not together.
    hub.add(VISION_REPO, "tiny-vl-Q4_K_M.gguf", gguf_of_size(tmp_path / "m.gguf", 5_000_000))
    hub.add(VISION_REPO, "mmproj-F16.gguf", gguf_of_size(tmp_path / "p.gguf", 3_000_000, seed=2))
    script = FULL_DISK.format(mnt=str(tmp_path / "mnt"), endpoint=hub.endpoint, repo=VISION_REPO)
    done = run_in_namespace(tmp_path, script, tmpfs_mb=8)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "not enough disk space" in out["error"] and "with its projector" in out["error"]
    assert "Nothing was downloaded" in out["error"]
    assert out["left"] == []
    assert not any("/resolve/" in r["path"] for r in hub.requests)  # refused from the listing alone


def cli(hub: LocalHub, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSISTANT_HF_ENDPOINT": hub.endpoint, "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
           "ASSISTANT_CONFIG_DIR": str(tmp_path / "config")}
    return subprocess.run([sys.executable, "-m", "assistant", "models", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_command_line_searches_lists_and_downloads_with_the_projector(
        hub: LocalHub, tmp_path: Path) -> None:
    hub.add(VISION_REPO, "tiny-vl-Q4_K_M.gguf", gguf_of_size(tmp_path / "m.gguf", 2_000_000))
    hub.add(VISION_REPO, "mmproj-F16.gguf", write_tiny_llava(tmp_path / "p.gguf", out_dim=64))
    hub.add_repo(VISION_REPO, downloads=1234, likes=5, licence="mit", pipeline_tag="image-text-to-text")

    found = cli(hub, tmp_path, "search", "smollm2")
    assert found.returncode == 0, found.stderr
    row = next(line for line in found.stdout.splitlines() if line.startswith(VISION_REPO))
    assert row.split()[1:5] == ["1,234", "5", "mit", "2025-06-01"] and row.endswith("vision")

    files = cli(hub, tmp_path, "files", VISION_REPO)
    assert files.returncode == 0, files.stderr
    model_row = next(line for line in files.stdout.splitlines() if line.startswith("tiny-vl-Q4_K_M.gguf"))
    assert model_row.split()[1:3] == ["Q4_K_M", "2"] and "fits:" in model_row
    assert "projector: comes along with a model" in files.stdout

    done = cli(hub, tmp_path, "download", VISION_REPO, "tiny-vl-Q4_K_M.gguf")
    assert done.returncode == 0, done.stderr
    models = tmp_path / "data" / "models"
    assert f"downloaded {models / 'mmproj-tiny-vl-F16.gguf'}" in done.stdout
    assert "use it: assistant ask --model tiny-vl-Q4_K_M" in done.stdout
    assert "Downloading mmproj-tiny-vl-F16.gguf (projector)" in done.stderr

    missing = cli(hub, tmp_path, "files", "nobody/nothing")
    assert missing.returncode == 1 and "was not found on the hub" in missing.stderr
