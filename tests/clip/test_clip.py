"""CLIP end to end on a model trained here: converter → ONNX folder → zero-shot, library search, CLI.

The model is trained in seconds on generated coloured shapes (`clip_shapes`), imported with the app's
own `assistant models import-clip` command, and then only the app's torch-free path is used, except
where torch is the reference it must agree with.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_assistant

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

import clip_shapes as shapes  # noqa: E402

from assistant.clip import quantize as clip_quantize  # noqa: E402
from assistant.clip.folder import clip_models_dir, read_config  # noqa: E402
from assistant.clip.importer import import_clip, load_weights  # noqa: E402
from assistant.clip.labels import ZeroShotLabeler, read_labels  # noqa: E402
from assistant.engines.clip_onnx import ClipModel  # noqa: E402
from assistant.library.image_library import ImageLibrary  # noqa: E402
from assistant.models.catalog import ModelError  # noqa: E402

CAPTIONS = [shapes.caption(*c) for c in shapes.CLASSES]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> shapes.Trained:
    return shapes.train(tmp_path_factory.mktemp("clip-train"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, trained: shapes.Trained) -> Path:
    """A user folder with the trained model imported through the command line, as a user would."""
    home = tmp_path_factory.mktemp("clip-home")
    # --float32: the parity tests below compare the exported graph with torch to 1e-4.
    result = run_assistant("models", "import-clip", str(trained.config_path), str(trained.checkpoint),
                           "--name", "shapes", "--float32", data_dir=home / "data",
                           config_dir=home / "config")
    assert result.returncode == 0, result.stderr
    assert "onnxruntime matches torch" in result.stderr
    return home


@pytest.fixture(scope="module")
def model(home: Path) -> ClipModel:
    return ClipModel.load(clip_models_dir(home / "data") / "shapes", threads=1, eager=True)


@pytest.fixture(scope="module")
def held_out() -> list[tuple[object, int]]:
    return shapes.dataset(per_class=5, seed=99)  # another seed than training's


def test_the_imported_folder_is_complete(home: Path, model: ClipModel) -> None:
    folder = clip_models_dir(home / "data") / "shapes"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "image.onnx", "text.onnx",
                                                         "tokenizer.json"]
    config = read_config(folder)
    assert (config.embed_dim, config.image_size, config.context_length) == (32, (32, 32), 16)
    assert [p.name for p in clip_models_dir(home / "data").iterdir()] == ["shapes"]  # no leftovers
    listed = run_assistant("models", data_dir=home / "data", config_dir=home / "config")
    assert "shapes: ready (tiny-shapes-clip, 32-d embeddings)" in listed.stdout


def test_right_caption_ranks_first_on_held_out_images(model: ClipModel, held_out: list) -> None:
    images = model.embed_images([shapes.as_array(image) for image, _ in held_out])
    captions = model.embed_texts(CAPTIONS)
    predicted = (images @ captions.T).argmax(axis=1)
    truth = np.array([label for _, label in held_out])
    assert (predicted == truth).mean() >= 0.9
    for label in range(len(CAPTIONS)):  # every caption wins on most of its own images
        assert (predicted[truth == label] == label).sum() >= 3, CAPTIONS[label]
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)


def test_torch_and_onnxruntime_embeddings_agree(trained: shapes.Trained, model: ClipModel,
                                                held_out: list) -> None:
    pre = trained.model.visual.preprocess_cfg
    transform = open_clip.image_transform(pre["size"], is_train=False, mean=pre["mean"], std=pre["std"])
    images = [image for image, _ in held_out[:16]]
    with torch.inference_mode():
        torch_images = trained.model.encode_image(torch.stack([transform(i) for i in images]), normalize=True)
        torch_texts = trained.model.encode_text(open_clip.tokenize(CAPTIONS, context_length=16),
                                                normalize=True)
    assert np.abs(model.embed_images(images) - torch_images.numpy()).max() <= 1e-4
    assert np.abs(model.embed_texts(CAPTIONS) - torch_texts.numpy()).max() <= 1e-4
    # Batch sizes other than the exported example's (2) work: the batch axis is dynamic.
    single = model.embed_images(images[:1])
    assert np.abs(single[0] - torch_images.numpy()[0]).max() <= 1e-4


def test_the_default_int8_image_tower_keeps_the_ranking(trained: shapes.Trained, model: ClipModel,
                                                        held_out: list, tmp_path: Path) -> None:
    result = run_assistant("models", "import-clip", str(trained.config_path), str(trained.checkpoint),
                           "--name", "q", data_dir=tmp_path / "data", config_dir=tmp_path / "config")
    assert result.returncode == 0, result.stderr
    assert "int8 image embeddings: cosine to torch's at least" in result.stderr
    quantized = ClipModel.load(clip_models_dir(tmp_path / "data") / "q", threads=1)
    assert quantized.config.image_precision == "int8"
    assert model.config.image_precision == "float32"
    images = [image for image, _ in held_out]
    embeddings = quantized.embed_images(images)
    assert (embeddings * model.embed_images(images)).sum(axis=1).min() >= 0.99
    predicted = (embeddings @ quantized.embed_texts(CAPTIONS).T).argmax(axis=1)
    assert (predicted == np.array([label for _, label in held_out])).mean() >= 0.9


def test_zero_shot_labels_and_their_cache(model: ClipModel, held_out: list, tmp_path: Path) -> None:
    labels = [f"{colour} {shape}" for colour, shape in shapes.CLASSES]
    labeler = ZeroShotLabeler(model, labels, template="a {label}", cache_dir=tmp_path)
    image, label = held_out[4]
    [best] = labeler.classify(model.embed_images([image]), top_k=3)
    assert best[0].label == labels[label]
    assert best[0].probability > best[1].probability and abs(sum(b.probability for b in best)) <= 1.0
    assert len(list(tmp_path.glob("*.npy"))) == 1

    class Unusable:  # a second labeler must not embed the prompts again: the disk cache has them
        fingerprint, config = model.fingerprint, model.config

        def embed_texts(self, texts: list[str]) -> np.ndarray:
            raise AssertionError("label embeddings were not cached")

    ZeroShotLabeler._memory.clear()
    again = ZeroShotLabeler(Unusable(), labels, template="a {label}", cache_dir=tmp_path)
    np.testing.assert_array_equal(again.label_embeddings(), labeler.label_embeddings())


def test_the_shipped_label_vocabulary() -> None:
    labels = read_labels()
    assert len(labels) >= 300
    assert {"screenshot", "receipt", "document", "diagram", "dog", "car"} <= set(labels)


def _png(image: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")  # type: ignore[attr-defined]
    return buffer.getvalue()


@pytest.fixture(scope="module")
def library_home(home: Path, model: ClipModel, held_out: list) -> tuple[Path, dict[int, str]]:
    """The user's library holding one held-out image per class, each shared in its own conversation."""
    first = {}
    for image, label in held_out:
        first.setdefault(label, image)
    hashes = {}
    with ImageLibrary(home / "data", model) as library:
        for label, image in first.items():
            hashes[label] = library.add(_png(image), conversation_id=100 + label, message_id=1000 + label)
    return home, hashes


def test_library_text_search_returns_the_right_image(library_home: tuple, model: ClipModel) -> None:
    home, hashes = library_home
    with ImageLibrary(home / "data", model) as library:
        for label, caption in enumerate(CAPTIONS):
            [hit] = library.search_text(caption, k=1)
            assert hit.hash == hashes[label], caption
            assert [(u.conversation_id, u.message_id) for u in hit.uses] == [(100 + label, 1000 + label)]
        similar = library.similar(hashes[0], k=3)
        assert hashes[0] not in [h.hash for h in similar] and len(similar) == 3


def test_search_images_command(library_home: tuple) -> None:
    home, hashes = library_home
    blue_square = shapes.CLASSES.index(("blue", "square"))
    result = run_assistant("search-images", "-k", "2", "a", "blue", "square",
                           data_dir=home / "data", config_dir=home / "config")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert hashes[blue_square] in lines[0] and f"conversation {100 + blue_square}" in lines[0]


class _RunsCode:
    """A pickle that would create a folder when loaded, if loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps({"visual.proj": _RunsCode(marker)}))
    zipped = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(2), "payload": _RunsCode(marker)}}, zipped)
    for path in (plain, zipped):
        with pytest.raises(ModelError, match="refused to load"):
            load_weights(path)
    assert not marker.exists()


def test_plain_torch_checkpoints_load(tmp_path: Path, trained: shapes.Trained) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in trained.model.state_dict().items()}},
               path)
    weights = load_weights(path)
    assert set(weights) == set(trained.model.state_dict())


def test_import_errors_say_what_is_wrong(home: Path, trained: shapes.Trained, tmp_path: Path) -> None:
    data, config = home / "data", home / "config"
    with pytest.raises(ModelError, match="unknown OpenCLIP architecture"):
        import_clip("No-Such-Arch", trained.checkpoint, tmp_path / "models")
    with pytest.raises(ModelError, match="does not fit architecture RN50"):
        import_clip("RN50", trained.checkpoint, tmp_path / "models")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
    exists = run_assistant("models", "import-clip", str(trained.config_path), str(trained.checkpoint),
                           "--name", "shapes", data_dir=data, config_dir=config)
    assert exists.returncode == 1 and "already exists" in exists.stderr
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelError, match="not a readable safetensors"):
        load_weights(garbage)


def _broken_copy(home: Path, tmp_path: Path, damage: str) -> Path:
    folder = tmp_path / "models" / "clip" / "shapes"
    shutil.copytree(clip_models_dir(home / "data") / "shapes", folder)
    if damage == "missing text":
        (folder / "text.onnx").unlink()
    elif damage == "truncated image":
        with (folder / "image.onnx").open("r+b") as handle:
            handle.truncate(1000)
    elif damage == "garbage image":
        size = (folder / "image.onnx").stat().st_size
        (folder / "image.onnx").write_bytes(b"\x07" * size)
    elif damage == "bad config":
        (folder / "config.json").write_text("{not json", encoding="utf-8")
    elif damage == "incomplete config":
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        del config["embed_dim"]
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    elif damage == "garbage tokenizer":
        size = (folder / "tokenizer.json").stat().st_size
        (folder / "tokenizer.json").write_bytes(b"{" * size)
    return folder


@pytest.mark.parametrize(("damage", "message"), [
    ("missing text", "missing text.onnx"),
    ("truncated image", "image.onnx is damaged"),
    ("garbage image", "damaged or not an ONNX model"),
    ("bad config", "not valid JSON"),
    ("incomplete config", "damaged or incomplete"),
    ("garbage tokenizer", "tokenizer"),
])
def test_a_broken_model_folder_gives_a_clear_message(home: Path, tmp_path: Path, damage: str,
                                                     message: str) -> None:
    folder = _broken_copy(home, tmp_path, damage)
    with pytest.raises(ModelError, match=message) as error:
        ClipModel.load(folder, eager=True)
    assert "import-clip" in str(error.value) or "tokenizer" in damage


def test_search_images_with_a_broken_model_exits_with_the_message(home: Path, tmp_path: Path) -> None:
    _broken_copy(home, tmp_path / "data", "missing text")
    result = run_assistant("search-images", "a red circle", data_dir=tmp_path / "data",
                           config_dir=tmp_path / "config")
    assert result.returncode == 1
    assert "missing text.onnx" in result.stderr and "Traceback" not in result.stderr
    empty = run_assistant("search-images", "anything", data_dir=tmp_path / "empty",
                          config_dir=tmp_path / "config")
    assert empty.returncode == 1 and "no CLIP model is installed" in empty.stderr


def test_an_int8_tower_that_strays_is_not_kept(trained: shapes.Trained, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """An architecture that quantizes badly still imports, with its exact float32 image tower."""
    monkeypatch.setattr(clip_quantize, "INT8_MIN_COSINE", 1.0001)  # no int8 tower can reach it
    lines: list[str] = []
    folder = import_clip(str(trained.config_path), trained.checkpoint, tmp_path / "models", "strays",
                         int8=True, report=lines.append)
    assert ClipModel.load(folder, threads=1).config.image_precision == "float32"
    assert any("keeping the float32 image tower" in line for line in lines)
    assert sorted(path.name for path in folder.iterdir() if path.suffix == ".onnx") == ["image.onnx",
                                                                                       "text.onnx"]
