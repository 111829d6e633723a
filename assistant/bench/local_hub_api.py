"""The JSON API of the local hub look-alike (``local_hub.py``): search, repository info and file tree.

The shapes are the hub's own, as huggingface_hub parses them (``HfApi.list_models`` → ``ModelInfo``,
``model_info``, ``list_repo_tree`` → ``RepoFile``/``RepoFolder``, read in huggingface_hub 2.4's
``hf_api.py``):

- ``GET /api/models?search=&filter=gguf&sort=downloads&limit=N&expand=…``: a JSON list of models
  (``_id``, ``id`` and the expanded fields, or the default set), most downloaded first; a ``Link:
  <…>; rel="next"`` header when more results follow (cursor pagination, as on the hub);
- ``GET /api/models/{repo}`` (and ``/revision/{rev}``): one model, with ``siblings``;
- ``GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=&expand=``: files as ``{"type": "file",
  "oid", "size", "path", "lfs": {"oid": sha256, "size", "pointerSize"}}`` and folders as
  ``{"type": "directory", "oid", "size": 0, "path"}``; ``expand`` adds ``lastCommit`` and
  ``securityFileStatus``; pages of ``page_size`` linked by ``Link`` like the hub's (1000, 50 expanded);
- unknown repositories and revisions: 404 with ``X-Error-Code: RepoNotFound`` / ``RevisionNotFound``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # every repository's one commit
DATE = "2025-06-01T12:00:00.000Z"
LFS_SUFFIXES = (".gguf", ".bin", ".onnx", ".safetensors", ".pt")


@dataclass
class RepoMeta:
    downloads: int = 0
    likes: int = 0
    licence: str = "apache-2.0"
    pipeline_tag: str = "text-generation"
    gated: bool = False
    last_modified: str = DATE
    files: dict[str, tuple[int, str]] = field(default_factory=dict)  # name → (size, sha256)

    def tags(self) -> list[str]:
        kinds = {"gguf"} if any(n.lower().endswith(".gguf") for n in self.files) else set()
        return sorted(kinds) + ([f"license:{self.licence}"] if self.licence else [])


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})


def _not_found(code: str, message: str) -> Answer:
    return _json({"error": message}, 404, {"X-Error-Code": code, "X-Error-Message": message})


def _object_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def _model(repo_id: str, meta: RepoMeta, fields: list[str] | None) -> dict[str, object]:
    full: dict[str, object] = {
        "_id": _object_id(repo_id), "id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0],
        "sha": COMMIT, "lastModified": meta.last_modified, "createdAt": DATE, "private": False,
        "disabled": False, "gated": "auto" if meta.gated else False, "downloads": meta.downloads,
        "likes": meta.likes, "tags": meta.tags(), "pipeline_tag": meta.pipeline_tag, "library_name": "gguf",
        "cardData": {"license": meta.licence} if meta.licence else {},
        "siblings": [{"rfilename": name} for name in sorted(meta.files)],
    }
    if fields is None:  # the hub's default set for a listing
        keep = {"_id", "id", "modelId", "likes", "downloads", "private", "tags", "pipeline_tag",
                "library_name", "createdAt"}
        return {k: v for k, v in full.items() if k in keep}
    return {k: v for k, v in full.items() if k in {"_id", "id", *fields}}


def answer(path: str, repos: dict[str, RepoMeta], origin: str, *, extra_results: int = 0,
           page_size: int | None = None) -> Answer:
    """The answer to one ``/api/models…`` request; ``origin`` (``http://host:port``) starts the
    absolute ``Link`` of the next page, as the hub's does."""
    parts = urlsplit(path)
    base = origin + parts.path
    query = parse_qs(parts.query)
    route = parts.path.removeprefix("/api/models").strip("/")
    if not route:
        return _search(base, query, repos, extra_results)
    pieces = route.split("/")
    repo_id = "/".join(pieces[:2])
    meta = repos.get(repo_id)
    if meta is None:
        return _not_found("RepoNotFound", "Repository not found")
    rest = pieces[2:]
    expand = query.get("expand")
    if not rest:
        return _json(_model(repo_id, meta, expand))
    if rest[0] == "revision" and len(rest) == 2:
        return _json(_model(repo_id, meta, expand)) if rest[1] in ("main", COMMIT) else \
            _not_found("RevisionNotFound", "Invalid rev id")
    if rest[0] == "tree" and len(rest) >= 2:
        if rest[1] not in ("main", COMMIT):
            return _not_found("RevisionNotFound", "Invalid rev id")
        return _tree(base, query, meta, "/".join(rest[2:]), page_size)
    return _not_found("EntryNotFound", "Not found")


def _search(base: str, query: dict[str, list[str]], repos: dict[str, RepoMeta], extra: int) -> Answer:
    text = (query.get("search") or [""])[0].lower()
    wanted = set(query.get("filter") or [])
    found = [(rid, meta) for rid, meta in repos.items()
             if text in rid.lower() and wanted <= set(meta.tags())]
    key = (query.get("sort") or ["downloads"])[0]
    field_of = {"likes": "likes", "lastModified": "last_modified"}.get(key, "downloads")
    found.sort(key=lambda item: getattr(item[1], field_of), reverse=True)
    fields = query.get("expand")
    items = [_model(rid, meta, fields) for rid, meta in found]
    limit = int((query.get("limit") or ["1000"])[0])
    start = int((query.get("cursor") or ["0"])[0])
    page = items[start:start + limit]
    for n in range(extra):  # a misbehaving server: far more than asked for, in one page
        page.append(_model(f"flood/repo-{n:06d}-GGUF", RepoMeta(downloads=1), fields))
    headers = {}
    if start + limit < len(items) and not extra:
        headers["Link"] = _next(base, query, start + limit)
    return _json(page, headers=headers)


def _tree(base: str, query: dict[str, list[str]], meta: RepoMeta, folder: str,
          page_size: int | None) -> Answer:
    recursive = (query.get("recursive") or ["false"])[0].lower() == "true"
    expand = (query.get("expand") or ["false"])[0].lower() == "true"
    prefix = f"{folder}/" if folder else ""
    entries: list[dict[str, object]] = []
    folders: set[str] = set()
    for name, (size, sha) in sorted(meta.files.items()):
        if not name.startswith(prefix):
            continue
        inner = name[len(prefix):].split("/")
        for depth in range(1, len(inner)):  # the folders on the way
            folders.add(prefix + "/".join(inner[:depth]))
        if len(inner) > 1 and not recursive:
            continue
        entries.append(_file(name, size, sha, expand))
    for path in sorted(folders):
        if recursive or "/" not in path[len(prefix):]:
            entry: dict[str, object] = {"type": "directory", "oid": _object_id(path) + "0" * 16, "size": 0,
                                        "path": path}
            if expand:
                entry["lastCommit"] = {"id": COMMIT, "title": "Upload", "date": DATE}
            entries.append(entry)
    size = page_size or (50 if expand else 1000)
    start = int((query.get("cursor") or ["0"])[0])
    headers = {"Link": _next(base, query, start + size)} if start + size < len(entries) else {}
    return _json(entries[start:start + size], headers=headers)


def _file(name: str, size: int, sha: str, expand: bool) -> dict[str, object]:
    entry: dict[str, object] = {"type": "file", "oid": hashlib.sha1(sha.encode()).hexdigest(), "size": size,
                                "path": name}
    if name.lower().endswith(LFS_SUFFIXES) or size >= 10 << 20:
        entry["lfs"] = {"oid": sha, "size": size, "pointerSize": 134}
    if expand:
        entry["lastCommit"] = {"id": COMMIT, "title": "Upload", "date": DATE}
        entry["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False, "virusNames": None},
                                       "pickleImportScan": None}
    return entry


def _next(base: str, query: dict[str, list[str]], cursor: int) -> str:
    params = [(k, v) for k, values in query.items() if k != "cursor" for v in values]
    params.append(("cursor", str(cursor)))
    return f'<{base}?{urlencode(params)}>; rel="next"'
