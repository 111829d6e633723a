"""The image library without a CLIP model: embeddings given as vectors, as the engine process gives them."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assistant.images.errors import ImageError
from assistant.library.image_library import ImageLibrary

MODEL = "test-model-0123456789ab"
DIM = 8


def png(colour: tuple[int, int, int], size: tuple[int, int] = (12, 9)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def filled(data_dir: Path, count: int = 5) -> tuple[ImageLibrary, list[str]]:
    library = ImageLibrary(data_dir)
    return library, [_add(library, i) for i in range(count)]


def _add(library: ImageLibrary, i: int) -> str:
    digest = library.add(png((10 * i, 0, 0)), conversation_id=i % 2 + 1, message_id=100 + i)
    library.set_embedding(digest, unit(i), model=MODEL)
    return digest


def test_search_is_exact_and_links_back_to_the_conversation(tmp_path: Path) -> None:
    library, hashes = filled(tmp_path)
    hits = library.search_vector(unit(3) + 0.01 * unit(9), k=3, model=MODEL)
    assert hits[0].hash == hashes[3]
    assert [u.conversation_id for u in hits[0].uses] == [2]
    assert hits[0].uses[0].message_id == 103
    assert hits[0].path.is_file() and hits[0].path.parent.parent == tmp_path / "images"
    brute = sorted(((float(unit(i) @ (unit(3) + 0.01 * unit(9)) / np.linalg.norm(unit(3) + 0.01 * unit(9))),
                     hashes[i]) for i in range(5)), reverse=True)[:3]
    assert [h.hash for h in hits] == [h for _, h in brute]
    assert [round(h.score, 5) for h in hits] == [round(s, 5) for s, _ in brute]


def test_same_image_twice_is_stored_once_with_both_uses(tmp_path: Path) -> None:
    library = ImageLibrary(tmp_path)
    first = library.add(png((1, 2, 3)), 1, 10)
    again = library.add(png((1, 2, 3)), 7, 70)
    assert first == again and len(library) == 1
    assert [(u.conversation_id, u.message_id) for u in library.uses(first)] == [(1, 10), (7, 70)]


def test_similar_leaves_the_image_itself_out(tmp_path: Path) -> None:
    library, hashes = filled(tmp_path)
    library.encoder = None
    hits = library.search_vector(unit(2), k=10, model=MODEL, exclude=(hashes[2],))
    assert hashes[2] not in [h.hash for h in hits] and len(hits) == 4


def test_library_persists_and_sees_other_processes_writes(tmp_path: Path) -> None:
    library, hashes = filled(tmp_path, 3)
    assert library.search_vector(unit(1), 1, model=MODEL)[0].hash == hashes[1]
    # Another process adds an image: the first library's cached index must notice.
    code = textwrap.dedent(f"""
        import io, numpy as np
        from PIL import Image
        from assistant.library.image_library import ImageLibrary
        buf = io.BytesIO(); Image.new("RGB", (5, 5), (0, 200, 0)).save(buf, "PNG")
        v = np.zeros({DIM}, np.float32); v[0] = 1
        with ImageLibrary(__import__("pathlib").Path({str(tmp_path)!r})) as lib:
            d = lib.add(buf.getvalue(), 9, 90)
            lib.set_embedding(d, v, model={MODEL!r})
            print(d)
    """)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    query = np.zeros(DIM, np.float32)
    query[0] = 1
    assert library.search_vector(query, 1, model=MODEL)[0].hash == other.stdout.strip()
    library.close()
    with ImageLibrary(tmp_path) as reopened:
        assert len(reopened) == 4
        assert reopened.search_vector(unit(1), 1, model=MODEL)[0].hash == hashes[1]


def test_a_crash_between_append_and_commit_leaves_no_phantom_row(tmp_path: Path) -> None:
    library, hashes = filled(tmp_path, 2)
    vectors = library._vectors[MODEL]
    vectors.append(unit(42)[None, :])  # written, never recorded: what a crash before COMMIT leaves
    with vectors.path.open("ab") as handle:
        handle.write(b"\x01\x02\x03")  # and a torn half-row
    digest = library.add(png((0, 0, 255)), 3, 30)
    library.set_embedding(digest, unit(7), model=MODEL)
    assert len(vectors) == 3  # the phantom row and the torn bytes were dropped, then the new row written
    np.testing.assert_array_equal(vectors.matrix()[2], unit(7))
    assert {h.hash for h in library.search_vector(unit(42), 5, model=MODEL)} == {*hashes, digest}
    assert library.search_vector(unit(7), 1, model=MODEL)[0].hash == digest


def test_forgetting_a_conversation_zeroes_its_embeddings(tmp_path: Path) -> None:
    library, hashes = filled(tmp_path, 4)  # conversation 1: images 0 and 2; conversation 2: 1 and 3
    library.add(png((0, 0, 0)), 2, 999)  # image 0 (same bytes) is shared in conversation 2 as well
    orphans = library.forget_conversation(1)
    assert orphans == [hashes[2]]
    assert len(library) == 3
    matrix = library._vectors[MODEL].matrix()
    assert not matrix[2].any() and matrix[0].any()  # row 2 zeroed on disk, row 0 still used
    assert hashes[2] not in [h.hash for h in library.search_vector(unit(2), 10, model=MODEL)]
    with pytest.raises(KeyError):
        library.path(hashes[2])


def test_unindexed_lists_images_without_an_embedding_for_a_model(tmp_path: Path) -> None:
    library, hashes = filled(tmp_path, 2)
    extra = library.add(png((5, 5, 5)), 1, 1)
    assert library.unindexed(MODEL) == [extra]
    assert library.unindexed("another-model") == [*hashes, extra]


def test_resolve_accepts_a_unique_prefix(tmp_path: Path) -> None:
    library, hashes = filled(tmp_path, 2)
    assert library.resolve(hashes[0][:10].upper()) == hashes[0]
    with pytest.raises(KeyError):
        library.resolve("")


def test_a_file_that_is_not_an_image_is_refused_with_a_message(tmp_path: Path) -> None:
    library = ImageLibrary(tmp_path)
    with pytest.raises(ImageError):
        library.add(b"%PDF-1.4 not an image", 1, 1)
    assert len(library) == 0


def test_the_database_is_a_real_sqlite_file_in_wal_mode(tmp_path: Path) -> None:
    filled(tmp_path, 1)[0].close()
    with sqlite3.connect(tmp_path / "image_library" / "library.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM uses").fetchone()[0] == 1


def test_core_clip_modules_import_no_ml_library() -> None:
    code = textwrap.dedent("""
        import sys
        import assistant.library.image_library, assistant.cli.search_images, assistant.clip.importer
        import assistant.clip.folder, assistant.clip.labels, assistant.clip.preprocess
        import assistant.clip.tokenizer, assistant.clip.tokenizer_json
        print(",".join(m for m in ("torch", "open_clip", "onnxruntime", "PySide6") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
