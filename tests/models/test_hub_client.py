"""Searching and listing through huggingface_hub's HfApi against a hub look-alike on 127.0.0.1 that
answers the hub's own JSON, and every way that can go wrong: junk, a flood, nothing listening, a
server that never answers, a missing repository, a repository without GGUF files."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import LocalHub, random_file

from assistant.models.hub_client import HubClient
from assistant.models.hub_http import HubError, Limits

TEXT_REPO = "bartowski/Qwen2.5-1.5B-Instruct-GGUF"
VISION_REPO = "ggml-org/SmolVLM-500M-Instruct-GGUF"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalHub]:
    small = random_file(tmp_path / "small.bin", 3_000)
    with LocalHub() as server:
        for name in ("Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", "Qwen2.5-1.5B-Instruct-Q8_0.gguf", "README.md",
                     "split/Qwen2.5-1.5B-Instruct-f16-00001-of-00002.gguf",
                     "split/Qwen2.5-1.5B-Instruct-f16-00002-of-00002.gguf"):
            server.add(TEXT_REPO, name, small)
        server.add_repo(TEXT_REPO, downloads=91_000, likes=40, licence="apache-2.0")
        server.add(VISION_REPO, "SmolVLM-500M-Instruct-Q8_0.gguf", small)
        server.add(VISION_REPO, "mmproj-SmolVLM-500M-Instruct-f16.gguf", small)
        server.add_repo(VISION_REPO, downloads=120_000, likes=99, licence="apache-2.0",
                        pipeline_tag="image-text-to-text")
        server.add("someone/qwen-notes", "README.md", small)  # no GGUF: not a search result
        yield server


def test_search_lists_gguf_repositories_most_downloaded_first(hub: LocalHub) -> None:
    found = HubClient(hub.endpoint).search("")
    assert [r.repo_id for r in found] == [VISION_REPO, TEXT_REPO]
    vision, text = found
    assert vision.vision and not text.vision
    assert (text.downloads, text.likes, text.licence) == (91_000, 40, "apache-2.0")
    assert text.updated is not None and text.updated.year == 2025
    assert [r.repo_id for r in HubClient(hub.endpoint).search("qwen")] == [TEXT_REPO]
    request = hub.requests[-1]["path"]
    assert "filter=gguf" in request and "sort=downloads" in request and "search=qwen" in request


def test_the_endpoint_comes_from_the_setting_or_the_environment(
        hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANT_HF_ENDPOINT", raising=False)
    assert HubClient().endpoint == "https://huggingface.co"  # nothing connects by constructing it
    monkeypatch.setenv("ASSISTANT_HF_ENDPOINT", hub.endpoint)
    assert [r.repo_id for r in HubClient("http://never.used").search("smolvlm")] == [VISION_REPO]


def test_a_search_only_reads_what_was_asked_for(hub: LocalHub) -> None:
    hub.switches.extra_results = 500  # the server ignores the limit
    assert len(HubClient(hub.endpoint).search("", limit=3)) == 3


def test_a_huge_answer_is_refused_with_a_message(hub: LocalHub) -> None:
    hub.switches.extra_results = 40_000  # ~11 MB of JSON in one page
    with pytest.raises(HubError, match="sent more than 8 MB") as info:
        HubClient(hub.endpoint).search("")
    assert not info.value.offline
    hub.switches.extra_results, hub.switches.no_length = 400, True  # no length: cut while reading
    with pytest.raises(HubError, match="sent more than 0 MB"):
        HubClient(hub.endpoint, Limits(max_bytes=50_000)).search("")


@pytest.mark.parametrize("body", [b"<html>Sign in to the proxy</html>", b'{"models": []}', b"[1, 2, 3]",
                                  b'[{"downloads": 5}]'])
def test_junk_is_a_message_not_a_crash(hub: LocalHub, body: bytes) -> None:
    hub.switches.api_body = body
    with pytest.raises(HubError, match="not understood"):
        HubClient(hub.endpoint).search("")


def test_files_are_listed_with_quant_size_and_lfs_sha256(hub: LocalHub, tmp_path: Path) -> None:
    listing = HubClient(hub.endpoint).files(TEXT_REPO)
    assert listing.licence == "apache-2.0" and not listing.gated
    assert [f.path for f in listing.models] == [
        "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf", "Qwen2.5-1.5B-Instruct-Q8_0.gguf",
        "split/Qwen2.5-1.5B-Instruct-f16-00001-of-00002.gguf"]
    first = listing.models[0]
    assert first.quant == "Q4_K_M" and first.size == 3_000
    assert first.parts[0].sha256 == hub.sha256(f"{TEXT_REPO}/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf")
    assert listing.models[2].size == 6_000 and listing.models[2].complete
    assert [f.path for f in listing.others] == ["README.md"]
    assert listing.projectors == []


def test_a_tree_over_several_pages_is_followed(hub: LocalHub) -> None:
    hub.switches.tree_page = 2  # the hub pages at 1000 (50 expanded); the Link header leads on
    listing = HubClient(hub.endpoint).files(TEXT_REPO)
    assert len(listing.models) == 3
    assert sum("cursor=" in r["path"] for r in hub.requests) >= 2


def test_a_vision_repository_lists_its_projector(hub: LocalHub) -> None:
    listing = HubClient(hub.endpoint).files(VISION_REPO)
    assert [f.name for f in listing.models] == ["SmolVLM-500M-Instruct-Q8_0.gguf"]
    assert [f.name for f in listing.projectors] == ["mmproj-SmolVLM-500M-Instruct-f16.gguf"]


def test_a_repository_without_gguf_lists_nothing_and_a_missing_one_says_so(hub: LocalHub) -> None:
    listing = HubClient(hub.endpoint).files("someone/qwen-notes")
    assert listing.files == [] and len(listing.others) == 1
    with pytest.raises(HubError, match="was not found on the hub"):
        HubClient(hub.endpoint).files("nobody/nothing-GGUF")
    with pytest.raises(HubError, match="no such revision"):
        HubClient(hub.endpoint).files(TEXT_REPO, revision="v9")
    with pytest.raises(HubError, match="not a repository id"):
        HubClient(hub.endpoint).files("../etc")


def test_nothing_listening_is_one_clear_offline_message() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HubError, match=r"Cannot reach the model hub.*refused.*offline") as info:
        HubClient(f"http://127.0.0.1:{port}").search("qwen")
    assert info.value.offline


def test_a_name_that_does_not_resolve_is_offline() -> None:
    with pytest.raises(HubError, match="does not resolve") as info:
        HubClient("http://hub.invalid").search("qwen")  # .invalid never resolves (RFC 6761)
    assert info.value.offline


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(HubError, match="no answer in time") as info:
            HubClient(endpoint, Limits(timeout_s=0.3)).files(TEXT_REPO)
    assert info.value.offline


def test_hf_hub_offline_guards_other_callers_but_not_a_search_the_user_asked_for(hub: LocalHub) -> None:
    # tests/conftest.py sets HF_HUB_OFFLINE=1 before huggingface_hub is imported (it reads it once).
    assert HubClient(hub.endpoint).search("qwen")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled

    with pytest.raises(OfflineModeIsEnabled):  # a library fetching on its own is still stopped
        list(HfApi(endpoint=hub.endpoint).list_models(search="qwen", limit=1))
