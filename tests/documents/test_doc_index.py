"""The library on a real SQLite file: a folder of real documents indexed and searched (right file, right
page), unchanged files never read again, changed and removed ones picked up, and a removed folder
leaving no byte of its passages or vectors in the database or its WAL."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from doc_files import fact_pdf, write_docx

from assistant.documents import library
from assistant.documents.indexer import Indexer
from assistant.documents.search import search
from assistant.documents.store import DocumentStore, library_path
from assistant.documents.vector_index import VectorIndex
from assistant.engines.embeddings import OnnxTextEmbedder
from assistant.models import catalog

pytest.importorskip("reportlab")


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> OnnxTextEmbedder:
    data = tmp_path_factory.mktemp("embed-data")
    return OnnxTextEmbedder.load(catalog.ensure_model(catalog.default_model("embed"), data), threads=2)


def make_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    fact_pdf(root / "harbour_report.pdf")
    write_docx(root / "orchard_minutes.docx", [
        (1, "Orchard", ["The Tamsk orchard meeting opened at noon."]),
        (2, "Harvest", ["This autumn the Tamsk orchard picked 812 crates of Blue Wendle apples."]),
    ])
    (root / "field_notes.md").write_text("# Field notes\n\n## Station codes\n\nThe Kelvaro radio station "
                                         "answers to the call sign ZK-47Q.\n", encoding="utf-8")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "recipes.html").write_text("<h1>Mirelka soup</h1><p>Let the Mirelka soup simmer for 37 "
                                                "minutes before the herbs go in.</p>", encoding="utf-8")
    return root


def ask(store: DocumentStore, embedder: OnnxTextEmbedder, vectors: VectorIndex, question: str, mode="hybrid"):
    vectors.refresh(store)
    return search(store, question, k=3, mode=mode, query_vector=embedder.embed([question])[0],
                  vectors=vectors)


@pytest.mark.parametrize(("question", "file", "where", "answer"), [
    ("Who looks after the Vellmoor light?", "harbour_report.pdf", "page 2", "Brandtner"),
    ("How large is the Quillfeather fund?", "harbour_report.pdf", "page 3", "4.2 million"),
    ("How many crates of apples did the Tamsk orchard pick?", "orchard_minutes.docx", "“Orchard › Harvest”",
     "812"),
    ("What is the call sign of the Kelvaro station?", "field_notes.md", "“Field notes › Station codes”",
     "ZK-47Q"),
    ("How long should Mirelka soup simmer?", "recipes.html", "“Mirelka soup”", "37 minutes"),
])
def test_questions_find_the_right_file_and_place(tmp_path: Path, embedder: OnnxTextEmbedder, question: str,
                                                 file: str, where: str, answer: str) -> None:
    folder = make_folder(tmp_path / "docs")
    with DocumentStore.open(tmp_path / "data") as store:
        report = Indexer(store, embedder=lambda: embedder).run(add=[str(folder)])
        assert report.indexed == 4 and not report.skipped and report.embedded > 0
        vectors = VectorIndex(embedder.fingerprint, embedder.dim)
        for mode in ("hybrid", "bm25", "vector"):
            best = ask(store, embedder, vectors, question, mode).passages[0]
            assert (best.name, best.locator.label()) == (file, where), mode
            assert answer in best.text and best.relevant
        unrelated = ask(store, embedder, vectors, "Which team won the 1998 football World Cup final?")
        assert not any(p.relevant for p in unrelated.passages)


def test_unchanged_files_are_never_read_again_and_changes_are_picked_up(tmp_path: Path,
                                                                        embedder: OnnxTextEmbedder) -> None:
    folder = make_folder(tmp_path / "docs")
    with DocumentStore.open(tmp_path / "data") as store:
        indexer = Indexer(store, embedder=lambda: embedder)
        indexer.run(add=[str(folder)])
        assert indexer.reads == 4
        indexer.run()
        assert indexer.reads == 4  # nothing changed: nothing opened

        notes = folder / "field_notes.md"
        stat = notes.stat()
        os.utime(notes, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched, same bytes
        report = indexer.run()
        assert indexer.reads == 4 and report.unchanged == 4  # hashed, not parsed

        notes.write_text("# Field notes\n\n## Station codes\n\nKelvaro now answers to XR-90B.\n")
        (folder / "sub" / "recipes.html").unlink()
        (folder / "new.txt").write_text("The Osterlund ferry carries 44 bicycles.")
        report = indexer.run()
        assert indexer.reads == 6
        assert (report.indexed, report.removed, report.unchanged) == (2, 1, 2)
        vectors = VectorIndex(embedder.fingerprint, embedder.dim)
        assert "XR-90B" in ask(store, embedder, vectors, "Kelvaro call sign").passages[0].text
        assert not ask(store, embedder, vectors, "ZK-47Q", "bm25").passages
        assert not ask(store, embedder, vectors, "Mirelka soup simmer", "bm25").passages
        assert store.count_unembedded(embedder.fingerprint) == 0


def raw_bytes(data: Path) -> bytes:
    db = library_path(data)
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_removing_a_folder_leaves_no_bytes_of_it_in_the_database_or_wal(tmp_path: Path,
                                                                         embedder: OnnxTextEmbedder) -> None:
    secret = make_folder(tmp_path / "secret")
    (secret / "diary.txt").write_text("Zephyrine Quabbelstock hid the key under the ninth stone.")
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "public.txt").write_text("The Harrowgate bakery opens at seven.")
    data = tmp_path / "data"
    with DocumentStore.open(data) as store:
        Indexer(store, embedder=lambda: embedder).run(add=[str(secret), str(kept)])
        blobs = {chunk: blob for batch in store.iter_vectors(embedder.fingerprint) for chunk, blob in batch}
        secret_ids = [c for c, in store._conn.execute(
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path LIKE ?",
            (str(secret.resolve()) + "%",))]
        secret_vectors = [blobs[c] for c in secret_ids]
        assert len(secret_vectors) >= 5 and all(len(np.frombuffer(b, "<f4")) == 384 for b in secret_vectors)
    before = raw_bytes(data)
    assert b"Quabbelstock" in before and b"Brandtner" in before
    assert all(blob[:64] in before for blob in secret_vectors)
    assert library.remove_source(data, secret)
    after = raw_bytes(data)
    for word in (b"Quabbelstock", b"Brandtner", b"ZK-47Q", b"Wendle", b"Mirelka", b"ninth stone"):
        assert word not in after, word
    for blob in secret_vectors:
        assert blob[:64] not in after  # no vector of a removed passage survives either
    assert b"Harrowgate" in after
    assert [s.path for s in library.list_sources(data)] == [str(kept.resolve())]


def test_sources_nest_and_refuse_what_cannot_be_read(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "docs")
    data = tmp_path / "data"
    single = library.add_source(data, folder / "field_notes.md")
    assert not single.is_folder
    whole = library.add_source(data, folder)
    assert [s.path for s in library.list_sources(data)] == [whole.path]  # the folder took the file over
    with pytest.raises(library.SourceRefused, match="already in the library"):
        library.add_source(data, folder / "sub")
    with pytest.raises(library.SourceRefused, match="does not exist"):
        library.add_source(data, tmp_path / "nowhere")
    with pytest.raises(library.SourceRefused, match="web address"):
        library.add_source(data, "https://example.com/report.pdf")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(library.SourceRefused, match="not read"):
        library.add_source(data, tmp_path / "photo.jpg")
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(library.SourceRefused, match="pipe"):
        library.add_source(data, tmp_path / "pipe.txt")
