"""`assistant bench download`: our downloader against a raw copy of the same HTTP body, same server.

A sparse file (default 1 GB) is served from 127.0.0.1 by ``local_hub`` (redirect + sendfile, like the
hub). The baseline reads the response with ``shutil.copyfileobj`` into /dev/null: no hashing, no disk.
Ours hashes (sha256), writes to a real file, fsyncs and verifies. The ratio shows what that costs per
byte; the target is ≥ 100 MB/s, i.e. no per-chunk Python overhead that would matter.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from assistant.bench.local_hub import LocalHub
from assistant.models.download import HubFile, download

REPO = "bench/local"


def _baseline(hub: LocalHub, name: str) -> float:
    parts = urlsplit(hub.endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    started = time.perf_counter()
    conn.request("GET", f"/cdn/{REPO}/{name}")
    response = conn.getresponse()
    with open("/dev/null", "wb") as sink:
        shutil.copyfileobj(response, sink, 4 << 20)
    conn.close()
    return time.perf_counter() - started


def _ours(hub: LocalHub, name: str, folder: Path) -> float:
    for stale in folder.glob(f"{name}*"):
        stale.unlink()
    started = time.perf_counter()
    download(HubFile(REPO, name), folder, endpoint=hub.endpoint)
    elapsed = time.perf_counter() - started
    (folder / name).unlink()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench download")
    parser.add_argument("--size-mb", type=int, default=1000, help="size of the served file (default 1000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where ours writes (default: a temp folder; use the "
                        "disk your models folder is on for a realistic number)")
    args = parser.parse_args(argv)
    size = args.size_mb * 1_000_000
    with tempfile.TemporaryDirectory() as tmp, LocalHub() as hub:
        source = Path(tmp) / "served.bin"
        with open(source, "wb") as f:
            f.truncate(size)  # sparse: the server's disk is not what is measured
        hub.add(REPO, "served.bin", source)
        folder = args.dir or Path(tmp) / "models"
        folder.mkdir(parents=True, exist_ok=True)
        base = [_baseline(hub, "served.bin") for _ in range(args.runs)]
        ours = [_ours(hub, "served.bin", folder) for _ in range(args.runs)]
    mb = size / 1e6
    base_rate, our_rate = mb / statistics.median(base), mb / statistics.median(ours)
    print(f"file {mb:.0f} MB from 127.0.0.1, median of {args.runs} runs")
    print(f"baseline  copyfileobj -> /dev/null : {base_rate:8.0f} MB/s")
    print(f"assistant download (sha256 + file + fsync): {our_rate:8.0f} MB/s")
    print(f"ratio ours/baseline: {our_rate / base_rate:.2f}  (target: >= 100 MB/s: "
          f"{'met' if our_rate >= 100 else 'NOT met'})")
    return 0
