"""`assistant bench download`: the hub paths of the app against the plain ways, same local server, same run.

A sparse file (default 1 GB) is served from 127.0.0.1 by ``local_hub`` (redirect + sendfile, like the
hub). Measured, median of ``--runs``:

- **download**: ours (``models.download``: sha256 while writing, a real file, fsync, verified) against
  ``shutil.copyfileobj`` of the same body into /dev/null (no hashing, no disk), and against
  huggingface_hub's ``hf_hub_download`` into a folder, plus the separate sha256 pass it would need to
  give the same guarantee (it checks only the size). Two behaviours are tried rather than assumed:
  whether ``hf_hub_download`` accepts bytes that do not match the hub's sha256, and whether it has any
  way to be cancelled from another thread (a parameter for it).
- **search and listing**: ``HubClient.search`` (HfApi through the app's guarded client) and
  ``HubClient.files`` (model info + tree) against ``HfApi.list_models`` as huggingface_hub comes, and a
  bare ``http.client`` GET of the same search URL and ``json.loads``, on a hub of 300 repositories.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import inspect
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from assistant.bench.local_hub import LocalHub
from assistant.models.download import HubFile, download

REPO = "bench/local"
SEARCH_REPOS = 300


def _timed(job: Callable[[], object]) -> float:
    started = time.perf_counter()
    job()
    return time.perf_counter() - started


def _get(hub: LocalHub, path: str, sink: object | None = None) -> bytes:
    parts = urlsplit(hub.endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    conn.request("GET", path)
    response = conn.getresponse()
    if sink is None:
        body = response.read()
    else:
        shutil.copyfileobj(response, sink, 4 << 20)  # type: ignore[arg-type]
        body = b""
    conn.close()
    return body


def _baseline(hub: LocalHub, name: str) -> float:
    def job() -> None:
        with open("/dev/null", "wb") as sink:
            _get(hub, f"/cdn/{REPO}/{name}", sink)

    return _timed(job)


def _ours(hub: LocalHub, name: str, folder: Path) -> float:
    for stale in folder.glob(f"{name}*"):
        stale.unlink()
    elapsed = _timed(lambda: download(HubFile(REPO, name), folder, endpoint=hub.endpoint))
    (folder / name).unlink()
    return elapsed


def _sha256(path: Path) -> str:
    hasher, buf = hashlib.sha256(), bytearray(4 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
    return hasher.hexdigest()


def _hf(hub: LocalHub, name: str, folder: Path) -> tuple[float, float]:
    """(hf_hub_download seconds, the sha256 pass after it) into ``folder``."""
    from huggingface_hub import hf_hub_download

    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    path = Path(hf_hub_download(REPO, name, local_dir=folder, endpoint=hub.endpoint, token=False))
    fetched = time.perf_counter() - started
    hashed = _timed(lambda: _sha256(path))
    shutil.rmtree(folder, ignore_errors=True)
    return fetched, hashed


def _hf_accepts_damaged_bytes(hub: LocalHub, tmp: Path) -> bool:
    """Serves a file whose bytes do not hash to the sha256 the hub states; True when
    hf_hub_download hands it over anyway."""
    from huggingface_hub import hf_hub_download

    source = tmp / "damaged.bin"
    source.write_bytes(bytes(range(256)) * 4096)
    hub.add(REPO, "damaged.bin", source)
    hub.switches.wrong_bytes = True
    try:
        path = Path(hf_hub_download(REPO, "damaged.bin", local_dir=tmp / "hf-damaged", endpoint=hub.endpoint,
                                    token=False))
        return _sha256(path) != hub.sha256(f"{REPO}/damaged.bin")
    except Exception:  # refused: exactly what we would want
        return False
    finally:
        hub.switches.wrong_bytes = False


def _hf_can_cancel() -> bool:
    from huggingface_hub import hf_hub_download

    names = set(inspect.signature(hf_hub_download).parameters)
    return bool(names & {"cancel", "cancel_event", "should_stop", "stop_event", "progress_callback"})


def _search_numbers(runs: int, tmp: Path, with_hf: bool) -> list[str]:
    from assistant.models.hub_client import SEARCH_FIELDS, HubClient

    with LocalHub() as hub:
        small = tmp / "small.gguf"
        small.write_bytes(b"GGUF" + bytes(1000))
        for n in range(SEARCH_REPOS):
            repo = f"owner{n % 20}/model-{n}-GGUF"
            for quant in ("Q4_K_M", "Q5_K_M", "Q8_0"):
                hub.add(repo, f"model-{n}-{quant}.gguf", small)
            hub.add_repo(repo, downloads=n * 37 % 1000, likes=n % 50)
        expand = "".join(f"&expand={f}" for f in SEARCH_FIELDS)
        url = f"/api/models?search=model&filter=gguf&sort=downloads&limit=30{expand}"
        client = HubClient(hub.endpoint)
        ours: list[float] = []
        library: list[float] = []
        raw: list[float] = []
        if with_hf:  # huggingface_hub as it comes (its own client) against the app, runs interleaved
            from huggingface_hub import HfApi

            from assistant.models import hub_http

            api = HfApi(endpoint=hub.endpoint, token=False)

            def plain_hf() -> object:
                return list(api.list_models(search="model", filter="gguf", sort="downloads", limit=30,
                                            expand=SEARCH_FIELDS))

            for _ in range(runs):
                hub_http.uninstall()
                plain_hf()  # a fresh client's first request sets up its pool: not what is measured
                library.append(_timed(plain_hf))
                client.search("model")  # installs the guarded client again
                ours.append(_timed(lambda: client.search("model")))
                raw.append(_timed(lambda: json.loads(_get(hub, url))))
        else:
            client.search("model")
            ours = [_timed(lambda: client.search("model")) for _ in range(runs)]
            raw = [_timed(lambda: json.loads(_get(hub, url))) for _ in range(runs)]
        listing = [_timed(lambda: client.files("owner3/model-3-GGUF")) for _ in range(runs)]
    o, r = statistics.median(ours) * 1e3, statistics.median(raw) * 1e3
    lines = [f"search, 30 of {SEARCH_REPOS} GGUF repositories from 127.0.0.1, median of {runs}:",
             f"  app (HubClient.search: HfApi + guarded client): {o:7.1f} ms"]
    if library:
        h = statistics.median(library) * 1e3
        lines.append(f"  huggingface_hub HfApi.list_models as it comes:  {h:7.1f} ms   "
                     f"(app / library {o / h:.2f})")
    lines.append(f"  bare http.client GET + json.loads:              {r:7.1f} ms   (app / bare {o / r:.2f})")
    files_ms = statistics.median(listing) * 1e3
    lines.append(f"  a repository's files (model_info + tree):       {files_ms:7.1f} ms")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench download")
    parser.add_argument("--size-mb", type=int, default=1000, help="size of the served file (default 1000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where ours writes (default: a temp folder; use the "
                        "disk your models folder is on for a realistic number)")
    parser.add_argument("--no-hf", action="store_true", help="skip the huggingface_hub comparison")
    parser.add_argument("--search-runs", type=int, default=20)
    args = parser.parse_args(argv)
    size = args.size_mb * 1_000_000
    hf_rows: list[tuple[float, float]] = []
    damaged = False
    if not args.no_hf:
        from huggingface_hub import constants

        if constants.is_offline_mode():
            print("huggingface_hub comparison skipped: HF_HUB_OFFLINE is set (unset it for this run)")
            args.no_hf = True
    with tempfile.TemporaryDirectory() as tmp, LocalHub() as hub:
        source = Path(tmp) / "served.bin"
        with open(source, "wb") as f:
            f.truncate(size)  # sparse: the server's disk is not what is measured
        hub.add(REPO, "served.bin", source)
        folder = args.dir or Path(tmp) / "models"
        folder.mkdir(parents=True, exist_ok=True)
        base = [_baseline(hub, "served.bin") for _ in range(args.runs)]
        ours = [_ours(hub, "served.bin", folder) for _ in range(args.runs)]
        if not args.no_hf:
            hf_rows = [_hf(hub, "served.bin", folder / "hf") for _ in range(args.runs)]
            damaged = _hf_accepts_damaged_bytes(hub, Path(tmp))
        search_lines = _search_numbers(args.search_runs, Path(tmp), with_hf=not args.no_hf)
    mb = size / 1e6
    base_rate, our_rate = mb / statistics.median(base), mb / statistics.median(ours)
    print(f"file {mb:.0f} MB from 127.0.0.1, median of {args.runs} runs")
    print(f"baseline  copyfileobj -> /dev/null : {base_rate:8.0f} MB/s")
    print(f"assistant download (sha256 + file + fsync): {our_rate:8.0f} MB/s")
    print(f"ratio ours/baseline: {our_rate / base_rate:.2f}  (target: >= 100 MB/s: "
          f"{'met' if our_rate >= 100 else 'NOT met'})")
    if hf_rows:
        fetch_s = statistics.median(r[0] for r in hf_rows)
        verify_s = statistics.median(r[0] + r[1] for r in hf_rows)
        print(f"huggingface_hub hf_hub_download (file, size check): {mb / fetch_s:8.0f} MB/s")
        print(f"  + the sha256 pass it needs to match ours:        {mb / verify_s:8.0f} MB/s "
              f"(ours / hf+verify {our_rate / (mb / verify_s):.2f})")
        print(f"  hands over bytes that do not match the hub's sha256: {'yes' if damaged else 'no'}")
        print(f"  can be cancelled from another thread: {'yes' if _hf_can_cancel() else 'no (no parameter)'}")
    print("\n" + "\n".join(search_lines))
    return 0
