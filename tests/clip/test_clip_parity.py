"""The app's torch-free CLIP inputs equal OpenCLIP's: token ids and preprocessed pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

open_clip = pytest.importorskip("open_clip")

from assistant.clip.preprocess import PreprocessSpec, preprocess, preprocess_batch  # noqa: E402
from assistant.clip.tokenizer import ClipTokenizer  # noqa: E402
from assistant.clip.tokenizer_json import build_tokenizer_json  # noqa: E402

TEXTS = [
    "a red circle", "A photo of a DOG!!", "It's John's  café — naïve résumé…", "日本語のテキスト 東京",
    "emoji 🐱🚀 ok", "“Curly” ‘quotes’ don’t", "ﬁne ﬂow Ｆｕｌｌｗｉｄｔｈ １２３",
    "Tom &amp; Jerry &lt;3 &#39;x&#39;", "<b>bold</b> &amp; co", "numbers 12345 3.14 1,000",
    "tabs\tand\nnewlines\r\n  spaces", "", "   ", "ΣΊΣΥΦΟΣ Straße İstanbul", "x" * 300, "word " * 100,
    "can't won't I'M you'RE", "a_b-c/d\\e", "\x00ctrl\x07chars\u200b zero", "Ελληνικά русский عربى हिन्दी",
    "screenshot of an error: KeyError('x') at line 42", "C++ & C# -> Rust?", "e-mail: a.b@example.org",
]


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from open_clip.tokenizer import default_bpe

    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    path.write_text(build_tokenizer_json(Path(default_bpe())), encoding="utf-8")
    return path


@pytest.mark.parametrize("context", [77, 16])
def test_token_ids_equal_open_clip(tokenizer_file: Path, context: int) -> None:
    ours = ClipTokenizer(tokenizer_file, context)(TEXTS)
    theirs = open_clip.tokenize(TEXTS, context_length=context).numpy()
    mismatched = [t for t, a, b in zip(TEXTS, ours, theirs, strict=True) if not np.array_equal(a, b)]
    assert mismatched == []


def test_whitespace_and_canonicalize_cleaning_match(tokenizer_file: Path) -> None:
    from open_clip.tokenizer import SimpleTokenizer

    for clean in ("whitespace", "canonicalize"):
        theirs = SimpleTokenizer(context_length=77, clean=clean)(TEXTS).numpy()
        ours = ClipTokenizer(tokenizer_file, 77, clean)(TEXTS)
        assert np.array_equal(ours, theirs), clean


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (300, 451, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 256, (90, 60, 4), dtype=np.uint8), "RGBA")
    return [
        noise,  # landscape, needs a downscale and a crop
        noise.rotate(90, expand=True),  # portrait
        noise.convert("L"),  # grey
        noise.convert("P", palette=Image.Palette.ADAPTIVE),  # palette: resized nearest, then RGB
        rgba,  # transparency: premultiplied resize, alpha dropped
        noise.resize((7, 5)),  # tiny: upscaled
        noise.resize((224, 224)),  # already the right size
        noise.resize((1000, 30)),  # extreme aspect ratio
    ]


@pytest.mark.parametrize("size", [224, 32])
def test_pixels_equal_open_clip_transform(size: int) -> None:
    mean, std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    transform = open_clip.image_transform(size, is_train=False, mean=mean, std=std)
    spec = PreprocessSpec((size, size), mean, std)
    for image in _images():
        expected = transform(image).numpy()
        got = preprocess(image, spec)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-6, image.mode


def test_arrays_are_accepted_like_pil_images() -> None:
    spec = PreprocessSpec((32, 32), open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD)
    image = _images()[0]
    batch = preprocess_batch([image, np.asarray(image)], spec)
    assert batch.dtype == np.float32 and batch.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(batch[0], batch[1])
