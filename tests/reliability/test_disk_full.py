"""A full disk and a read-only models folder, for real: a 2 MB tmpfs (or a read-only remount) in a
user+mount namespace. Each case runs in a child process (the namespace is per process) and prints the
message the user would see plus what is left on the small disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import REPO, LocalHub, random_file, run_in_namespace

pytestmark = pytest.mark.timeout(180)

PRELUDE = """
import json, shutil, sys
from pathlib import Path
MNT = Path({mnt!r})
def leftovers():
    return sorted(str(p.relative_to(MNT)) for p in MNT.rglob('*') if p.is_file())
def report(error):
    print(json.dumps({{"error": str(error), "type": type(error).__name__, "left": leftovers()}}))
def no_space_check(module):
    # Another program filling the disk after our free-space check: the write itself must fail.
    module.shutil = type("S", (), {{"disk_usage": staticmethod(lambda _p: shutil._ntuple_diskusage(
        1 << 40, 0, 1 << 40))}})
"""


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


def run(tmp_path: Path, body: str, **kwargs: object) -> dict[str, object]:
    script = PRELUDE.format(mnt=str(tmp_path / "mnt")) + body
    done = run_in_namespace(tmp_path, script, **kwargs)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


DOWNLOAD = """
from assistant.models import download as d
from assistant.models.download import HubFile, download
{patch}
try:
    download(HubFile({repo!r}, "weights.bin"), MNT / "models", endpoint={endpoint!r})
    report("no error")
except Exception as error:
    report(error)
"""


def test_download_onto_a_full_disk_removes_the_partial(hub: LocalHub, tmp_path: Path) -> None:
    hub.add(REPO, "weights.bin", random_file(tmp_path / "weights.bin", 5_000_000))
    hub.switches.redirect, hub.switches.no_length = False, True  # size unknown: no check before
    out = run(tmp_path, DOWNLOAD.format(repo=REPO, endpoint=hub.endpoint, patch=""))
    assert out["type"] == "DownloadError"
    assert "the disk is full" in str(out["error"]) and "removed" in str(out["error"])
    assert [p for p in out["left"] if "weights" in str(p)] == []


def test_download_too_big_for_the_disk_is_refused_before_writing(hub: LocalHub, tmp_path: Path) -> None:
    hub.add(REPO, "weights.bin", random_file(tmp_path / "weights.bin", 5_000_000))
    out = run(tmp_path, DOWNLOAD.format(repo=REPO, endpoint=hub.endpoint, patch=""))
    assert "not enough disk space" in str(out["error"])
    assert [p for p in out["left"] if "weights" in str(p) and not str(p).endswith(".json")] == []


def test_download_into_a_read_only_models_folder(hub: LocalHub, tmp_path: Path) -> None:
    hub.add(REPO, "weights.bin", random_file(tmp_path / "weights.bin", 100_000))
    out = run(tmp_path, DOWNLOAD.format(repo=REPO, endpoint=hub.endpoint, patch=""), read_only=True)
    assert out["type"] == "DownloadError"
    assert "read-only" in str(out["error"])
    assert hub.requests == []  # found out before connecting


ADD = """
from assistant.models import user_files as model_files
from assistant.models.gguf_writer import TensorData, write_gguf
source = write_gguf(Path({src!r}), {{"general.architecture": "llama", "llama.embedding_length": 64}},
                    [TensorData("token_embd.weight", (1024, 1024))])
{patch}
try:
    model_files.add_models([source], MNT / "models")
    report("no error")
except Exception as error:
    report(error)
"""


def test_adding_a_model_onto_a_full_disk(tmp_path: Path) -> None:
    body = ADD.format(src=str(tmp_path / "big.gguf"), patch="no_space_check(model_files)")
    out = run(tmp_path, body)
    assert out["type"] == "ModelError"
    assert "the disk is full" in str(out["error"])
    assert out["left"] == []  # the temp copy is gone


def test_adding_a_model_to_a_read_only_folder(tmp_path: Path) -> None:
    out = run(tmp_path, ADD.format(src=str(tmp_path / "big.gguf"), patch=""), read_only=True)
    assert out["type"] == "ModelError"
    assert "read-only" in str(out["error"])


ASSEMBLE = """
from assistant.models import assembly
from assistant.models.catalog import ModelEntry, PartRef
parts = (PartRef("a.bin", dir=Path({parts!r})), PartRef("b.bin", dir=Path({parts!r})))
entry = ModelEntry(name="split", title="Split model", role="chat", filename="split.bin", sha256={sha!r},
                   size=None, ram_mb=None, licence="test", source="pypi-parts", parts=parts)
{patch}
try:
    assembly.ensure(entry, MNT / "data")
    report("no error")
except Exception as error:
    report(error)
"""


@pytest.mark.parametrize(("patch", "words"), [
    ("assembly._free_bytes = lambda _p: 1 << 40", "the disk is full"),  # the write itself fails
    ("", "not enough disk space"),  # the check before writing
])
def test_assembly_on_a_full_disk_leaves_no_partial(tmp_path: Path, patch: str, words: str) -> None:
    import hashlib

    parts = tmp_path / "parts"
    parts.mkdir()
    a = random_file(parts / "a.bin", 1_500_000, seed=1).read_bytes()
    b = random_file(parts / "b.bin", 1_500_000, seed=2).read_bytes()
    sha = hashlib.sha256(a + b).hexdigest()
    out = run(tmp_path, ASSEMBLE.format(parts=str(parts), sha=sha, patch=patch))
    assert out["type"] == "ModelError"
    assert words in str(out["error"])
    assert [p for p in out["left"] if "partial" in str(p) or p.endswith("split.bin")] == []
