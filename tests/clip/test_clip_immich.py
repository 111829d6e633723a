"""CLIP in Immich's ONNX layout: the tests' tiny trained OpenCLIP exported the way Immich exports, run
through the app's own path (labels, library search, CLI), against the same weights in the app's layout.

Also the one-click CLIP pick end to end: the Immich-layout folder served by the local hub on 127.0.0.1,
installed with `assistant models install`, then `assistant describe` on a real photo shows labels and
`assistant search-images` finds the images shared through `assistant ask --image`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_assistant

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

import clip_shapes as shapes  # noqa: E402
from clip_immich import export_immich  # noqa: E402
from hub_server import LocalHub  # noqa: E402
from model_files import smollm2_path  # noqa: E402
from pick_catalog import env_for, folder_entry, serve_folder, write_catalog  # noqa: E402

from assistant.clip.folder import clip_models_dir, read_config  # noqa: E402
from assistant.clip.importer import import_clip  # noqa: E402
from assistant.clip.labels import ZeroShotLabeler  # noqa: E402
from assistant.engines.clip_onnx import ClipModel  # noqa: E402
from assistant.library.image_library import ImageLibrary  # noqa: E402
from assistant.models.catalog import ModelError  # noqa: E402

CAPTIONS = [shapes.caption(*c) for c in shapes.CLASSES]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> shapes.Trained:
    return shapes.train(tmp_path_factory.mktemp("clip-train"))


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, trained: shapes.Trained) -> dict[str, Path]:
    """The same weights three ways: the app's import (float32), Immich's export, Immich's newer uint8
    image input."""
    root = tmp_path_factory.mktemp("clip-layouts")
    app = import_clip(str(trained.config_path), trained.checkpoint, root / "app", "shapes", int8=False)
    immich = export_immich(trained.model, shapes.TINY_CONFIG, root / "immich" / "Tiny-Shapes__test")
    uint8 = export_immich(trained.model, shapes.TINY_CONFIG, root / "uint8" / "Tiny-Shapes__u8",
                          uint8_input=True)
    return {"app": app, "immich": immich, "uint8": uint8}


@pytest.fixture(scope="module")
def held_out() -> list[tuple[object, int]]:
    return shapes.dataset(per_class=5, seed=99)


def test_the_immich_folder_reads_as_a_clip_model(folders: dict[str, Path]) -> None:
    config = read_config(folders["immich"])
    assert (config.layout, config.embed_dim, config.context_length) == ("immich", 32, shapes.CONTEXT)
    assert config.image_size == (shapes.IMAGE_SIZE, shapes.IMAGE_SIZE) and config.pad_token == "<|endoftext|>"
    assert config.path("image") == folders["immich"] / "visual" / "model.onnx"
    assert config.fingerprint == read_config(folders["immich"]).fingerprint  # stable across reads


def test_both_layouts_give_the_same_embeddings_for_the_same_weights(folders: dict[str, Path],
                                                                     held_out: list) -> None:
    app = ClipModel.load(folders["app"], threads=1, eager=True)
    images = [image for image, _ in held_out]
    texts = [*CAPTIONS, "A RED   circle!", "x " * 40]  # case, spacing, punctuation, an over-long text
    app_images, app_texts = app.embed_images(images), app.embed_texts(texts)
    for layout in ("immich", "uint8"):
        other = ClipModel.load(folders[layout], threads=1, eager=True)
        ids, app_ids = other.tokens(texts), app.tokens(texts)
        # The same ids, except Immich pads with <|endoftext|> where OpenCLIP pads with 0.
        end = app_ids.max(axis=1, keepdims=True)
        assert np.array_equal(np.where(app_ids == 0, end, app_ids), ids)
        worst_image = float(np.abs(other.embed_images(images) - app_images).max())
        worst_text = float(np.abs(other.embed_texts(texts) - app_texts).max())
        print(f"{layout}: largest difference from the app's layout: images {worst_image:.2e}, "
              f"texts {worst_text:.2e}")
        assert worst_image < 1e-4 and worst_text < 1e-4


def test_labels_and_search_rank_the_right_caption_and_image_first(folders: dict[str, Path], held_out: list,
                                                                  tmp_path: Path) -> None:
    model = ClipModel.load(folders["immich"], threads=1)
    labeler = ZeroShotLabeler(model, [f"{c} {s}" for c, s in shapes.CLASSES], template="a {label}",
                              cache_dir=tmp_path / "cache")
    labels = labeler.classify(model.embed_images([image for image, _ in held_out]), top_k=1)
    right = sum(best[0].label == CAPTIONS[label][2:]
                for best, (_, label) in zip(labels, held_out, strict=True))
    print(f"Immich layout: right label first on {right} of {len(held_out)} held-out images")
    assert right >= 0.9 * len(held_out)
    first = {}
    for image, label in held_out:
        first.setdefault(label, image)
    with ImageLibrary(tmp_path / "data", model) as library:
        hashes = {label: library.add(_png(image), conversation_id=label + 1, message_id=label + 1)
                  for label, image in first.items()}
        for label, caption in enumerate(CAPTIONS):
            [hit] = library.search_text(caption, k=1)
            assert hit.hash == hashes[label], caption


def _png(image: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")  # type: ignore[attr-defined]
    return buffer.getvalue()


def _broken(folders: dict[str, Path], tmp_path: Path, damage: str, trained: shapes.Trained) -> Path:
    folder = tmp_path / "models" / "clip" / "Broken__test"
    shutil.copytree(folders["immich"], folder)
    if damage == "missing image tower":
        (folder / "visual" / "model.onnx").unlink()
    elif damage == "missing tokenizer":
        (folder / "textual" / "tokenizer.json").unlink()
    elif damage == "missing tokenizer settings":
        (folder / "textual" / "tokenizer_config.json").unlink()
        (folder / "textual" / "special_tokens_map.json").unlink()
    elif damage == "wrong input size":
        pre = json.loads((folder / "visual" / "preprocess_cfg.json").read_text(encoding="utf-8"))
        pre["size"] = [64, 64]
        (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps(pre), encoding="utf-8")
    elif damage == "embed_dim differs":
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["embed_dim"] = 48
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    elif damage == "towers differ":  # a text tower of another model, 16-d where the image tower is 32-d
        other = {**shapes.TINY_CONFIG, "embed_dim": 16}
        config_path = tmp_path / "tiny-16.json"
        config_path.write_text(json.dumps(other), encoding="utf-8")
        open_clip.add_model_config(config_path)
        small = open_clip.create_model("tiny-16", pretrained=None).eval()
        export_immich(small, other, tmp_path / "small")
        shutil.copy(tmp_path / "small" / "textual" / "model.onnx", folder / "textual" / "model.onnx")
    return folder


@pytest.mark.parametrize(("damage", "message"), [
    ("missing image tower", "missing visual/model.onnx"),
    ("missing tokenizer", "missing textual/tokenizer.json"),
    ("missing tokenizer settings", "tokenizer_config.json with a pad_token"),
    ("wrong input size", r"visual/model.onnx does not match its configuration"),
    ("embed_dim differs", r"gives embeddings of size 32, the config says embed_dim 48"),
    ("towers differ", r"textual/model.onnx gives embeddings of size 16, the config says embed_dim 32"),
])
def test_a_broken_immich_folder_gives_a_clear_message(folders: dict[str, Path], tmp_path: Path, damage: str,
                                                      message: str, trained: shapes.Trained) -> None:
    folder = _broken(folders, tmp_path, damage, trained)
    with pytest.raises(ModelError, match=message) as error:
        ClipModel.load(folder, eager=True)
    assert "models install" in str(error.value) or "import-clip" in str(error.value)


# --- the one-click CLIP pick, end to end -------------------------------------------------------------

def real_photo(name: str) -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-image (its real photographs) is not installed; the test extra installs it")
    return Path(spec.submodule_search_locations[0]) / "data" / name


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


def test_the_clip_pick_installs_from_the_hub_and_labels_and_finds_a_real_photo(
        folders: dict[str, Path], hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = "tester/Tiny-Shapes__test"
    serve_folder(hub, repo, folders["immich"])
    catalog = write_catalog(tmp_path / "picks.toml",
                            folder_entry("tiny-clip", "clip", repo, folders["immich"]))
    for key, value in env_for(catalog, hub).items():
        monkeypatch.setenv(key, value)
    data, config = tmp_path / "data", tmp_path / "config"
    settings = {"threads": 1, "model": "smollm2-135m-instruct", "max_tokens": 8}
    listed = run_assistant("models", data_dir=data, config_dir=config, settings=settings)
    assert "tiny-clip" not in listed.stdout.split("Recommended downloads")[-1]  # test picks: never offered
    installed = run_assistant("models", "install", "tiny-clip", data_dir=data, config_dir=config)
    assert installed.returncode == 0, installed.stderr
    home = clip_models_dir(data) / "tiny-clip"
    assert f"installed tiny-clip: {home}" in installed.stdout and (home / "visual" / "model.onnx").is_file()
    assert not (data / "models" / ".picks" / "tiny-clip").exists()

    photo = real_photo("chelsea.png")  # a real cat photo (scikit-image's data, public domain)
    described = run_assistant("describe", "--json", str(photo), data_dir=data, config_dir=config)
    assert described.returncode == 0, described.stderr
    labels = json.loads(described.stdout)["labels"]
    assert len(labels) == 5 and all(item["label"] and 0 < item["score"] <= 1 for item in labels)

    smollm2_path()  # skips without the test model
    square = tmp_path / "square.png"
    shapes.draw("blue", "square", random.Random(5)).save(square, "PNG")
    asked = run_assistant("ask", "--image", str(photo), "--image", str(square), "What is this?",
                          data_dir=data, config_dir=config)
    assert asked.returncode == 0, asked.stderr
    found = run_assistant("search-images", "-k", "2", "a blue square", data_dir=data, config_dir=config)
    assert found.returncode == 0, found.stderr
    lines = found.stdout.splitlines()
    assert len(lines) == 2
    assert hashlib.sha256(square.read_bytes()).hexdigest()[:12] in lines[0]
    assert hashlib.sha256(photo.read_bytes()).hexdigest()[:12] in found.stdout
