"""Adding, removing and verifying model files, with the real SmolLM2 GGUF and generated projectors."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from vision_files import write_model, write_projector

from assistant.models import catalog
from assistant.models.user_files import Cancelled, add_models, hash_sidecar, remove_model, verify_models

SMOLLM2_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_copy_records_the_hash_and_the_model_is_listed(smollm2_path: Path, data_dir: Path) -> None:
    folder = catalog.user_models_dir(data_dir)
    seen: list[tuple[str, int, int]] = []
    added = add_models([smollm2_path], folder, progress=lambda *r: seen.append(r))
    dest = folder / smollm2_path.name
    assert added.files == [dest]
    assert dest.stat().st_size == smollm2_path.stat().st_size and not dest.is_symlink()
    assert hash_sidecar(dest).read_text().split()[0] == SMOLLM2_SHA  # the catalogue's sha256
    assert seen[-1][1:] == (smollm2_path.stat().st_size,) * 2
    assert list(folder.glob(".*")) == []  # no temp file left
    assert smollm2_path.stem in [e.name for e in catalog.all_models(data_dir)]


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_links_save_the_copy_and_removing_a_link_keeps_the_target(
        smollm2_path: Path, tmp_path: Path, data_dir: Path, mode: str) -> None:
    own = tmp_path / "own"
    own.mkdir()
    source = write_model(own / "mine.gguf")
    folder = catalog.user_models_dir(data_dir)
    (dest,) = add_models([source], folder, mode=mode).files
    if mode == "symlink":
        assert dest.is_symlink() and dest.resolve() == source.resolve()
    else:
        assert os.path.samefile(dest, source)
    remove_model("mine", data_dir)
    assert not dest.exists() and not dest.is_symlink()
    assert source.is_file()


def test_a_projector_next_to_the_model_comes_along(tmp_path: Path, data_dir: Path) -> None:
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    model = write_model(downloads / "Qwen2-VL-2B-Instruct-Q4_K_M.gguf", arch="qwen2vl", width=64)
    write_projector(downloads / "mmproj-Qwen2-VL-2B-Instruct-f16.gguf", ptype="qwen2vl_merger", out_dim=64)
    write_model(downloads / "unrelated-Q8_0.gguf")
    folder = catalog.user_models_dir(data_dir)
    added = add_models([model], folder)
    assert sorted(p.name for p in added.files) == [
        "Qwen2-VL-2B-Instruct-Q4_K_M.gguf", "mmproj-Qwen2-VL-2B-Instruct-f16.gguf"]
    assert any("projector" in note for note in added.notes)


def test_bad_files_are_refused_with_reasons(tmp_path: Path, data_dir: Path) -> None:
    folder = catalog.user_models_dir(data_dir)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    damaged = tmp_path / "damaged.gguf"
    damaged.write_bytes(b"not a gguf at all")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(write_model(tmp_path / "whole.gguf").read_bytes()[:-64])
    for path, words in [(text, "not a GGUF"), (damaged, "cannot be added"), (truncated, "truncated"),
                        (tmp_path / "absent.gguf", "not a file")]:
        with pytest.raises(catalog.ModelError, match=words):
            add_models([path], folder)
    add_models([tmp_path / "whole.gguf"], folder)
    with pytest.raises(catalog.ModelError, match="already"):
        add_models([tmp_path / "whole.gguf"], folder)
    assert sorted(p.name for p in folder.iterdir()) == ["whole.gguf", "whole.gguf.sha256"]


def test_a_cancelled_copy_leaves_nothing(smollm2_path: Path, data_dir: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    folder = catalog.user_models_dir(data_dir)
    with pytest.raises(Cancelled):
        add_models([smollm2_path], folder, cancel=cancel)
    assert list(folder.iterdir()) == []


def test_catalogue_models_cannot_be_removed(smollm2_path: Path, data_dir: Path) -> None:
    with pytest.raises(catalog.ModelError, match="catalogue"):
        remove_model("smollm2-135m-instruct", data_dir)
    assert smollm2_path.is_file()
    with pytest.raises(catalog.ModelError, match="no model named"):
        remove_model("nothing-like-this", data_dir)


def test_verify_checks_catalogue_and_user_files(smollm2_path: Path, tmp_path: Path, data_dir: Path) -> None:
    folder = catalog.user_models_dir(data_dir)
    add_models([write_model(tmp_path / "mine.gguf"), write_model(tmp_path / "other.gguf")], folder)
    damaged = folder / "other.gguf"
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    verdicts = {v.name: v for v in verify_models(data_dir)}
    assert verdicts["smollm2-135m-instruct"].ok is True
    assert "sha256 matches" in verdicts["smollm2-135m-instruct"].message
    assert verdicts["mine"].ok is True
    assert verdicts["other"].ok is False and "damaged" in verdicts["other"].message
    assert verdicts["qwen2.5-coder-0.5b-instruct"].ok is None  # not assembled in this data dir
