"""The CLIP parts of `assistant bench vision`.

- clip: ViT-B-32 with random weights (no real CLIP weights can be downloaded here; speed does not depend
  on the values), saved as safetensors and imported with the app's own converter. The app's path
  (`ClipModel.embed_images`: Pillow/numpy preprocessing + onnxruntime) against OpenCLIP in torch eager
  mode (its own transform + ``encode_image``) on the same weights and images, same thread count, in
  the same process, runs interleaved; batch 1 and 16, plus the text tower for one query.
- search: the image library's exact top-10 scan over 100,000 stored 512-d embeddings (memory-mapped
  float32 file), and the same with the hits' paths and conversations looked up.

Needs the clip-import extra (torch, open-clip-torch) for the `clip` part only. numpy at the top on
purpose: every part here works on arrays, and `bench vision` imports this module only when one runs.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ARCH = "ViT-B-32"
LIBRARY_SIZE = 100_000
LIBRARY_DIM = 512


def _photos(count: int, seed: int = 0) -> list[object]:
    """Photo-sized images (640x480) with smooth structure and noise, different each."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    photos = []
    for _ in range(count):
        fx, fy = rng.uniform(0.005, 0.05, 2)
        wave = np.sin(fx * x + rng.uniform(0, 6.3)) * np.cos(fy * y)
        base = 127 + 100 * wave[..., None] * rng.uniform(0.3, 1.0, 3)
        pixels = np.clip(base + rng.normal(0, 20, (480, 640, 3)), 0, 255).astype(np.uint8)
        photos.append(Image.fromarray(pixels))
    return photos


def _interleaved(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Timings taken in turn after one warm-up each, so machine load hits every contender alike."""
    for action in actions.values():
        action()
    timings: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            timings[name].append(time.perf_counter() - started)
    return timings


def _versus(timings: dict[str, list[float]], baseline: str = "torch eager") -> str:
    base = timings[baseline]
    parts = [f"{baseline} {statistics.median(base) * 1000:7.1f} ms"]
    for name, values in timings.items():
        if name != baseline:
            parts.append(f"{name} {statistics.median(values) * 1000:7.1f} ms = "
                         f"{statistics.median(base) / statistics.median(values):4.2f}x "
                         f"(best runs {min(base) / min(values):4.2f}x)")
    return ";  ".join(parts)


def bench_clip(args: argparse.Namespace) -> list[str]:
    import open_clip
    import torch
    from safetensors.torch import save_file

    from assistant.clip.import_log import quiet_root_log
    from assistant.clip.importer import import_clip
    from assistant.engines.clip_onnx import ClipModel

    threads = args.threads or min(os.cpu_count() or 1, 8)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with quiet_root_log("No pretrained weights loaded"):  # random weights on purpose
        model = open_clip.create_model(ARCH, pretrained=None).eval()
    pre = model.visual.preprocess_cfg
    transform = open_clip.image_transform(pre["size"], is_train=False, mean=pre["mean"], std=pre["std"])
    plural = "s" if threads > 1 else ""
    lines = [f"CLIP, {ARCH} (random weights), {threads} thread{plural}, 640x480 images, preprocessing "
             "included on both sides; the app's default import (int8 image tower) and --float32 against "
             "OpenCLIP "
             "torch eager, medians of interleaved runs"]
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / f"{ARCH}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(checkpoint))
        clips = {}
        for int8 in (True, False):
            started = time.perf_counter()
            installed = import_clip(ARCH, checkpoint, Path(folder) / "models", f"bench-{int8}", int8=int8,
                                    report=log.info)
            import_s = time.perf_counter() - started
            lines.append(f"  import-clip{'' if int8 else ' --float32'}: {import_s:5.1f} s "
                         "(export both towers, parity check)")
            clip = ClipModel.load(installed, threads=threads, eager=True)
            clips["app (int8)" if int8 else "float32"] = clip
        for batch, runs in ((1, max(3 * args.runs, 9)), (16, max(args.runs, 3))):
            images = _photos(batch, seed=batch)

            def eager(images: list[object] = images) -> np.ndarray:
                with torch.inference_mode():
                    pixels = torch.stack([transform(image) for image in images])
                    return model.encode_image(pixels, normalize=True).numpy()

            actions: dict[str, Callable[[], object]] = {"torch eager": eager}
            for name, clip in clips.items():
                actions[name] = lambda clip=clip, images=images: clip.embed_images(images)
            timings = _interleaved(actions, runs)
            reference = eager()
            app_diff = float(np.abs(clips["float32"].embed_images(images) - reference).max())
            cosine = float((clips["app (int8)"].embed_images(images) * reference).sum(axis=1).min())
            lines.append(f"  batch {batch:>2} ({runs} runs): {_versus(timings)}")
            lines.append(f"           float32 max |diff| to torch {app_diff:.1e}; int8 min cosine to torch "
                         f"{cosine:.4f}")
        query = "a screenshot of an error message"
        tokens = open_clip.tokenize([query])

        def eager_text() -> np.ndarray:
            with torch.inference_mode():
                return model.encode_text(tokens, normalize=True).numpy()

        timings = _interleaved({"torch eager": eager_text,
                                "app": lambda: clips["float32"].embed_texts([query])}, max(3 * args.runs, 9))
        lines.append(f"  text query: {_versus(timings)}")
    return lines


def _filled_library(folder: Path, count: int, dim: int) -> tuple[object, list[str]]:
    """A library of `count` images (rows only: no image files are needed to scan) with random vectors."""
    from assistant.library.image_library import ImageLibrary
    from assistant.library.store import LibraryDb

    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(count)]
    db = LibraryDb(folder / "image_library" / "library.sqlite3")
    with db.transaction("bench") as tx:
        tx.executemany("INSERT INTO images(hash, file, bytes, width, height, added_at) VALUES "
                       "(?, ?, 0, 640, 480, ?)", [(h, f"images/{h[:2]}/{h}.png", i) for i, h in
                                                  enumerate(hashes)])
        tx.executemany("INSERT INTO uses(hash, conversation_id, message_id, added_at) VALUES (?, ?, ?, ?)",
                       [(h, i // 7, i, i) for i, h in enumerate(hashes)])
    db.close()
    library = ImageLibrary(folder)
    rng = np.random.default_rng(0)
    for start in range(0, count, 20_000):  # 20,000 rows (40 MB) per append keeps the peak memory small
        chunk = rng.standard_normal((min(20_000, count - start), dim), dtype=np.float32)
        library.set_embeddings(hashes[start:start + len(chunk)], chunk, model="bench")
    return library, hashes


def bench_search(args: argparse.Namespace) -> list[str]:
    runs = max(10 * args.runs, 30)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        library, _ = _filled_library(Path(folder), LIBRARY_SIZE, LIBRARY_DIM)
        fill_s = time.perf_counter() - started
        try:
            rng = np.random.default_rng(1)
            queries = rng.standard_normal((runs + 1, LIBRARY_DIM), dtype=np.float32)
            library.top_rows(queries[-1], 10, model="bench")  # first call maps the file and reads the rows
            scan, full = [], []
            for query in queries[:runs]:
                started = time.perf_counter()
                library.top_rows(query, 10, model="bench")  # type: ignore[attr-defined]
                scan.append(time.perf_counter() - started)
                started = time.perf_counter()
                library.search_vector(query, 10, model="bench")  # type: ignore[attr-defined]
                full.append(time.perf_counter() - started)
        finally:
            library.close()  # type: ignore[attr-defined]
    size_mb = LIBRARY_SIZE * LIBRARY_DIM * 4 / 1e6
    return [
        f"Image library search, {LIBRARY_SIZE:,} embeddings x {LIBRARY_DIM} float32 ({size_mb:.0f} MB, "
        f"memory-mapped), exact, {runs} queries",
        f"  fill (bulk insert, one fsync per 20,000)          {fill_s:7.2f} s",
        f"  top-10 scan                          median {statistics.median(scan) * 1000:6.1f} ms, "
        f"best {min(scan) * 1000:6.1f} ms",
        f"  top-10 with paths and conversations  median {statistics.median(full) * 1000:6.1f} ms, "
        f"best {min(full) * 1000:6.1f} ms",
    ]
