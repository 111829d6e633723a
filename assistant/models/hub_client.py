"""Search the Hugging Face hub for GGUF repositories and list a repository's files (huggingface_hub's HfApi).

Nothing connects until a method is called, i.e. until the user searches, opens a repository in
Models ▸ Browse or asks for a download. The endpoint is the one downloads use
(``download_http.hub_endpoint``: ``ASSISTANT_HF_ENDPOINT``, else the setting, else huggingface.co). No
token is sent, even one saved by ``huggingface-cli login``: the app only reads public files, and a
mirror set in Settings must not receive the user's hub credentials. Failures are ``HubError``s with a
sentence for the user (``hub_http`` makes huggingface_hub fail fast instead of retrying for 23 s).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from assistant.models import hub_http
from assistant.models.download_http import hub_endpoint
from assistant.models.hub_files import LogicalFile, RemoteFile, group_files
from assistant.models.hub_http import HubError, Limits

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 30
MAX_LIMIT = 100  # one page of the hub's search; more is not something a person reads
MAX_TREE_FILES = 20_000  # a repository's listing is cut there (the largest GGUF repositories have ~500)
SEARCH_FIELDS = ["author", "downloads", "likes", "lastModified", "tags", "pipeline_tag", "gated"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class HubRepo:
    """A search result."""

    repo_id: str
    downloads: int  # over the last 30 days, as the hub counts them
    likes: int
    licence: str  # from the hub's "license:…" tag; "" when the repository declares none
    updated: datetime | None
    pipeline_tag: str
    gated: bool

    @property
    def vision(self) -> bool:
        """The hub's task says it takes images (its mmproj comes along with a download)."""
        return self.pipeline_tag in ("image-text-to-text", "image-to-text", "visual-question-answering")


@dataclass(frozen=True)
class RepoListing:
    """A repository's GGUF files as logical files (shards joined, projectors marked)."""

    repo_id: str
    revision: str
    files: list[LogicalFile]
    licence: str
    gated: bool
    others: tuple[RemoteFile, ...]  # README, config, safetensors…: not rows, but downloadable by name
    truncated: bool = False

    @property
    def models(self) -> list[LogicalFile]:
        return [f for f in self.files if not f.is_projector]

    @property
    def projectors(self) -> list[LogicalFile]:
        return [f for f in self.files if f.is_projector]


class HubClient:
    def __init__(self, endpoint: str = "", limits: Limits | None = None) -> None:
        self.endpoint = hub_endpoint(endpoint)
        self.limits = limits or Limits()

    def _api(self) -> Any:
        hub_http.install()
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=False)

    def search(self, text: str, limit: int = DEFAULT_LIMIT) -> list[HubRepo]:
        """GGUF repositories whose id contains ``text``, most downloaded first (at most ``limit``)."""
        limit = min(max(int(limit), 1), MAX_LIMIT)
        with hub_http.limits(self.limits):
            try:
                found = self._api().list_models(search=text.strip() or None, filter="gguf", sort="downloads",
                                                limit=limit, expand=SEARCH_FIELDS)
                return [_repo(info) for info in islice(found, limit)]
            except Exception as error:  # every failure becomes one sentence; see hub_http.translate
                raise hub_http.translate(error, "the search") from None

    def files(self, repo_id: str, revision: str = "main") -> RepoListing:
        """The repository's GGUF files with sizes and LFS sha256s, and whether it is gated."""
        repo_id, revision = repo_id.strip().strip("/"), revision.strip() or "main"
        if not _REPO_ID.match(repo_id) or ".." in repo_id:
            raise HubError(f"{repo_id!r} is not a repository id; it looks like 'owner/name'")
        what = f"repository {repo_id}"
        with hub_http.limits(self.limits):
            try:
                api = self._api()
                info = api.model_info(repo_id, revision=None if revision == "main" else revision,
                                      expand=["gated", "tags", "cardData"])
                entries = list(islice(api.list_repo_tree(repo_id, recursive=True, revision=revision),
                                      MAX_TREE_FILES + 1))
            except Exception as error:
                raise hub_http.translate(error, what) from None
        try:
            remote = list(_remote_files(entries))
        except (AttributeError, TypeError, ValueError) as error:
            raise hub_http.translate(error, what) from None
        files = group_files(remote)
        others = tuple(f for f in remote if not f.path.lower().endswith(".gguf"))
        return RepoListing(repo_id, revision, files, _licence(info.tags, info.card_data), bool(info.gated),
                           others, truncated=len(entries) > MAX_TREE_FILES)


def _remote_files(entries: Iterable[Any]) -> Iterable[RemoteFile]:
    """The files of a tree listing (folders skipped); the sha256 is the LFS oid, the only checksum the
    hub keeps for a large file."""
    for entry in islice(entries, MAX_TREE_FILES):
        size = getattr(entry, "size", None)
        if size is None:  # a RepoFolder
            continue
        lfs = entry.lfs
        sha = lfs.sha256 if lfs is not None else None
        if not isinstance(entry.path, str) or not isinstance(size, int) or size < 0:
            raise ValueError(f"a file entry without a usable path or size: {entry.path!r}")
        yield RemoteFile(entry.path, int(lfs.size) if lfs is not None else size, sha)


def _repo(info: Any) -> HubRepo:
    if not isinstance(info.id, str):
        raise ValueError("a search result without an id")
    return HubRepo(repo_id=info.id, downloads=int(info.downloads or 0), likes=int(info.likes or 0),
                   licence=_licence(info.tags, getattr(info, "card_data", None)), updated=info.last_modified,
                   pipeline_tag=str(info.pipeline_tag or ""), gated=bool(info.gated))


def _licence(tags: Any, card: Any) -> str:
    """The hub tags a repository ``license:apache-2.0``; the model card's front matter says it too."""
    for tag in tags or ():
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.removeprefix("license:")
    value = getattr(card, "license", None) if card is not None else None
    return value if isinstance(value, str) else ""


__all__ = ["DEFAULT_LIMIT", "HubClient", "HubError", "HubRepo", "RepoListing"]
