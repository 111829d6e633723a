"""`assistant models search | files | download`: the hub browser on the command line.

Each command connects only when run. `search` lists GGUF repositories, `files` a repository's models
with their fit on this computer, `download` fetches one (every shard, and a vision repository's
projector) with progress on stderr; Ctrl+C keeps the partial file and the same command resumes it.
"""

from __future__ import annotations

import sys
from datetime import datetime

from assistant import settings
from assistant.cli.models import _ProgressLine
from assistant.models import catalog
from assistant.models.download_http import DownloadError
from assistant.models.hub_client import HubClient
from assistant.models.hub_http import HubError


def _client() -> HubClient:
    return HubClient(settings.load_settings().hub_endpoint)


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _date(value: datetime | None) -> str:
    return value.date().isoformat() if value else "?"


def search_command(text: str, limit: int) -> int:
    client = _client()
    try:
        repos = client.search(text, limit)
    except HubError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not repos:
        print(f"no GGUF repositories on {client.endpoint} match {text!r}")
        return 0
    width = max(len(r.repo_id) for r in repos)
    print(f"{'REPOSITORY':<{width}}  {'DOWNLOADS':>10}  {'LIKES':>6}  {'LICENCE':<14}  UPDATED     NOTE")
    for r in repos:
        note = " ".join(w for w, on in (("vision", r.vision), ("gated", r.gated)) if on)
        print(f"{r.repo_id:<{width}}  {r.downloads:>10,}  {r.likes:>6,}  {r.licence or '?':<14}  "
              f"{_date(r.updated):<10}  {note}".rstrip())
    print(f"\nsee a repository's files: assistant models files {repos[0].repo_id}")
    return 0


def files_command(repo_id: str, revision: str) -> int:
    from assistant.models import hardware
    from assistant.models.hub_files import projector_for
    from assistant.models.hub_fit import assess

    try:
        listing = _client().files(repo_id, revision)
    except HubError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    machine = hardware.probe(settings.data_dir())
    gated = ", gated: needs an accepted licence and a token" if listing.gated else ""
    print(f"{listing.repo_id} (licence {listing.licence or 'not stated'}{gated})")
    print("this computer: " + "; ".join(machine.summary_lines()[1:3]))
    if not listing.files:
        print(f"no GGUF files here ({len(listing.others)} other files); "
              "look for a repository whose name ends in -GGUF")
        return 1
    width = max(len(f.title) for f in listing.files)
    print(f"\n{'FILE':<{width}}  {'QUANT':<10}  {'SIZE':>8}  {'RAM':>8}  FIT")
    for f in listing.models:
        projector = projector_for(f, listing.files)
        fit = assess(f.size, machine, projector=projector.size if projector is not None else 0)
        print(f"{f.title:<{width}}  {f.quant or '?':<10}  {_size(f.size):>8}  "
              f"{fit.ram_mb / 1024:>5.1f} GB  {fit.label}: {fit.reason}")
    for f in listing.projectors:
        print(f"{f.title:<{width}}  {f.quant or '?':<10}  {_size(f.size):>8}  {'':>8}  "
              "projector: comes along with a model")
    if listing.truncated:
        print("(the listing was cut: the repository has too many files)")
    if listing.models:
        print(f"\ndownload one: assistant models download {listing.repo_id} {listing.models[0].path}")
    return 0


def download_command(repo_id: str, filename: str, revision: str, sha256: str | None) -> int:
    from assistant.models.hub_download import fetch, plan

    endpoint = settings.load_settings().hub_endpoint
    folder = catalog.user_models_dir(settings.data_dir())
    try:
        chosen = plan(_client().files(repo_id, revision), filename)
    except (HubError, DownloadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if sha256:
        if len(chosen.model.parts) != 1:
            print("error: --sha256 names one file's checksum; this model has several parts (each is "
                  "checked against the hub's own)", file=sys.stderr)
            return 2
        import dataclasses

        part = dataclasses.replace(chosen.model.parts[0], sha256=sha256.strip().lower())
        chosen = dataclasses.replace(chosen, model=dataclasses.replace(chosen.model, parts=(part,)))
    extra = f" and its projector {chosen.projector.name}" if chosen.projector is not None else ""
    print(f"{chosen.model.title}{extra}: {_size(chosen.size)}", file=sys.stderr)
    line = _ProgressLine()
    try:
        fetched = fetch(chosen, folder, endpoint=endpoint, progress=line)
    except KeyboardInterrupt:
        line.end()
        print("stopped; the partial download is kept: run the same command to resume", file=sys.stderr)
        return 130
    except DownloadError as error:
        line.end()
        print(f"error: {error}", file=sys.stderr)
        return 1
    line.end()
    for path in fetched.files:
        print(f"downloaded {path}")
    for note in fetched.notes:
        print(note)
    print(f"use it: assistant ask --model {fetched.model.stem} \"…\" (or choose it in the window)")
    return 0
