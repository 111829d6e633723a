"""Pairing vision GGUFs with their projectors (mmproj), on generated files: names, metadata, and every
way a pair can be missing, ambiguous, incompatible or damaged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from vision_files import int32_list, write_model, write_projector

from assistant.models import catalog
from assistant.models.gguf_writer import TensorData
from assistant.models.projector import ProjectorFacts, looks_like_projector_file
from assistant.models.vision_match import ModelFacts, choose_handler, name_tokens
from assistant.models.vision_pairing import (
    Unpaired,
    VisionPair,
    find_vision_pair,
    format_vision,
    scan_vision,
)


def paired(result: VisionPair | Unpaired) -> VisionPair:
    assert isinstance(result, VisionPair), result.reason  # type: ignore[union-attr]
    return result


def unpaired(result: VisionPair | Unpaired) -> str:
    assert isinstance(result, Unpaired), f"unexpectedly paired with {result.mmproj}"  # type: ignore[union-attr]
    return result.reason


# --- naming conventions seen in practice ------------------------------------------------------------

def test_qwen2_vl_convention_in_a_shared_folder(tmp_path: Path) -> None:
    model = write_model(tmp_path / "Qwen2-VL-2B-Instruct-Q4_K_M.gguf", arch="qwen2vl", width=96)
    mmproj = write_projector(tmp_path / "mmproj-Qwen2-VL-2B-Instruct-f16.gguf", ptype="qwen2vl_merger",
                             out_dim=96)
    write_model(tmp_path / "SmolLM2-135M-Instruct.gguf", width=64)  # an unrelated text model beside it
    pair = paired(find_vision_pair(model, tmp_path))
    assert pair.mmproj == mmproj and pair.projector_type == "qwen2vl_merger"
    assert pair.handler == "Qwen25VLChatHandler"
    assert "same name" in pair.reason and "embedding size 96 agrees" in pair.reason


def test_llava_convention_with_an_old_style_projector(tmp_path: Path) -> None:
    """llava-surgery projectors store CLIP's own projection_dim (768): the output size must come
    from the mm.2 tensor, or a good pair would be refused."""
    model = write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=128, template=None)
    mmproj = write_projector(tmp_path / "llava-v1.5-7b-mmproj-f16.gguf", out_dim=128, modern=False)
    write_model(tmp_path / "mistral-7b-instruct.gguf", width=128)
    pair = paired(find_vision_pair(model, tmp_path))
    assert pair.mmproj == mmproj and pair.handler == "Llava15ChatHandler"
    assert pair.embedding_length == 128


def test_generic_projector_alone_with_its_model(tmp_path: Path) -> None:
    folder = tmp_path / "gemma"
    folder.mkdir()
    model = write_model(folder / "gemma-3-4b-it-q4_0.gguf", arch="gemma3", width=80)
    mmproj = write_projector(folder / "mmproj-model-f16.gguf", ptype="gemma3", out_dim=80)
    pair = paired(find_vision_pair(model, tmp_path))  # models_dir elsewhere: the folder decides
    assert pair.mmproj == mmproj
    assert "only model and projector in their folder" in pair.reason
    assert pair.handler == "MTMDChatHandler" and "chat template" in pair.handler_reason


def test_generic_projector_among_several_models_needs_metadata(tmp_path: Path) -> None:
    model = write_model(tmp_path / "Youtu-VL-4B-Instruct-Q4_K_M.gguf", arch="llama", width=80)
    write_model(tmp_path / "phi-3-mini.gguf", arch="phi3", width=80)
    # Old-style header and a projector type without a known output tensor: its size is unknown.
    write_projector(tmp_path / "mmproj-model-f16.gguf", ptype="youtuvl", out_dim=80, modern=False)
    reason = unpaired(find_vision_pair(model, tmp_path))
    assert "mmproj-model-f16.gguf has a name that does not say which model" in reason


def test_moondream_and_split_text_model_names(tmp_path: Path) -> None:
    model = write_model(tmp_path / "moondream2-text-model-f16.gguf", arch="phi2", width=72)
    write_projector(tmp_path / "moondream2-mmproj-f16.gguf", out_dim=72)
    write_model(tmp_path / "other.gguf", width=64)
    assert paired(find_vision_pair(model, tmp_path)).handler == "MoondreamChatHandler"


def test_projector_in_the_models_folder_pairs_with_a_model_elsewhere(tmp_path: Path) -> None:
    models_dir, elsewhere = tmp_path / "models", tmp_path / "downloads"
    models_dir.mkdir()
    elsewhere.mkdir()
    model = write_model(elsewhere / "SmolVLM-256M-Instruct-Q8_0.gguf", width=64)
    mmproj = write_projector(models_dir / "mmproj-SmolVLM-256M-Instruct-Q8_0.gguf", ptype="idefics3",
                             out_dim=64)
    assert paired(find_vision_pair(model, models_dir)).mmproj == mmproj


@pytest.mark.parametrize("stem, tokens", [
    ("Qwen2-VL-2B-Instruct-Q4_K_M", ("qwen2", "vl", "2b", "instruct")),
    ("mmproj-Qwen2-VL-2B-Instruct-f16", ("qwen2", "vl", "2b", "instruct")),
    ("llava-v1.5-7b-mmproj-f16", ("llava", "v1", "5", "7b")),
    ("llava-v1.6-mistral-7b.Q4_K_M", ("llava", "v1", "6", "mistral", "7b")),
    ("google_gemma-3-4b-it-UD-Q4_K_XL", ("google", "gemma", "3", "4b", "it")),
    ("Qwen2.5-VL-7B-Instruct-IQ4_XS", ("qwen2", "5", "vl", "7b", "instruct")),
    ("mmproj-model-f16", ()), ("mmproj-F16", ()), ("ggml-model-q4_k", ()),
])
def test_name_tokens(stem: str, tokens: tuple[str, ...]) -> None:
    assert name_tokens(stem) == tokens


# --- metadata -----------------------------------------------------------------------------------------

def test_projector_recognised_by_metadata_not_name(tmp_path: Path) -> None:
    """Unhelpful names on both sides: the projector's output size confirms the pair, and the other
    model in the folder (another width) is ruled out."""
    model = write_model(tmp_path / "model.gguf", width=96)
    other = write_model(tmp_path / "weights.gguf", width=64)
    mmproj = write_projector(tmp_path / "projector.gguf", out_dim=96)
    pair = paired(find_vision_pair(model, tmp_path))
    assert pair.mmproj == mmproj and "embedding size 96 agrees" in pair.reason
    assert "produces embeddings of size 96, but weights.gguf expects 64" in unpaired(
        find_vision_pair(other, tmp_path))
    assert looks_like_projector_file(mmproj) and not looks_like_projector_file(model)
    roles = {e.filename: e.role for e in catalog.discover_user_models([tmp_path])}
    assert roles == {"model.gguf": "chat", "weights.gguf": "chat", "projector.gguf": "mmproj"}


def test_same_general_name_pairs_differently_named_files(tmp_path: Path) -> None:
    model = write_model(tmp_path / "my-download.gguf", width=96, name="Qwen2 VL 2B Instruct", arch="qwen2vl")
    mmproj = write_projector(tmp_path / "vision-tower.gguf", ptype="qwen2vl_merger", out_dim=96,
                             name="Qwen2-VL-2B-Instruct")
    pair = paired(find_vision_pair(model, tmp_path))
    assert pair.mmproj == mmproj and "same model name in the metadata" in pair.reason


def test_a_text_only_model_is_not_vision(tmp_path: Path) -> None:
    model = write_model(tmp_path / "SmolLM2-135M-Instruct-Q4_1.gguf", width=64)
    assert "answers text only" in unpaired(find_vision_pair(model, tmp_path))
    scan = scan_vision([tmp_path])
    assert not scan.pairs and not scan.unpaired_projectors and not scan.unpaired_models
    assert format_vision(scan) == ""


# --- refusing to guess ----------------------------------------------------------------------------------

def test_two_equally_good_projectors_are_ambiguous(tmp_path: Path) -> None:
    model = write_model(tmp_path / "Qwen2-VL-2B-Instruct-Q4_K_M.gguf", arch="qwen2vl", width=96)
    qwen = dict(ptype="qwen2vl_merger", out_dim=96)
    a = write_projector(tmp_path / "mmproj-Qwen2-VL-2B-Instruct-f16.gguf", **qwen)
    b = write_projector(tmp_path / "mmproj-Qwen2-VL-2B-Instruct-Q8_0.gguf", **qwen)
    result = find_vision_pair(model, tmp_path)
    reason = unpaired(result)
    assert "2 projectors that fit equally well" in reason and a.name in reason and b.name in reason
    assert set(result.candidates) == {a, b}  # type: ignore[union-attr]
    chosen = paired(find_vision_pair(model, tmp_path, mmproj=b))  # the user names one
    assert chosen.mmproj == b and chosen.reason == "chosen by you"
    scan = scan_vision([tmp_path])
    assert {p.name for p, why in scan.unpaired_projectors if "equally well" in why} == {a.name, b.name}


def test_generic_projectors_alone_in_a_folder_are_ambiguous(tmp_path: Path) -> None:
    model = write_model(tmp_path / "gemma-3-4b-it-q4_0.gguf", arch="gemma3", width=80)
    write_projector(tmp_path / "mmproj-model-f16.gguf", ptype="gemma3", out_dim=80)
    write_projector(tmp_path / "mmproj-F16.gguf", ptype="gemma3", out_dim=80)
    assert "fit equally well" in unpaired(find_vision_pair(model, tmp_path))


def test_the_better_named_projector_wins(tmp_path: Path) -> None:
    model = write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    good = write_projector(tmp_path / "llava-v1.5-7b-mmproj-f16.gguf", out_dim=64)
    write_projector(tmp_path / "mmproj-model-f16.gguf", out_dim=64)  # generic, also fits by size
    assert paired(find_vision_pair(model, tmp_path)).mmproj == good


def test_incompatible_embedding_size(tmp_path: Path) -> None:
    model = write_model(tmp_path / "llava-v1.5-13b-Q4_K_M.gguf", width=80)
    write_projector(tmp_path / "llava-v1.5-13b-mmproj-f16.gguf", out_dim=64)
    reason = unpaired(find_vision_pair(model, tmp_path))
    assert "produces embeddings of size 64" in reason and "expects 80" in reason
    assert "belong to different models" in reason


def test_incompatible_architecture(tmp_path: Path) -> None:
    model = write_model(tmp_path / "Qwen2-VL-2B-Instruct-Q4_K_M.gguf", arch="qwen2vl", width=64)
    write_projector(tmp_path / "mmproj-Qwen2-VL-2B-Instruct-f16.gguf", ptype="mlp", out_dim=64)
    assert "is a qwen2vl model and needs a qwen2vl projector" in unpaired(find_vision_pair(model, tmp_path))
    gemma_proj = write_projector(tmp_path / "mmproj-gemma-3-4b-it-f16.gguf", ptype="gemma3", out_dim=64)
    llama = write_model(tmp_path / "gemma-3-4b-it.gguf", arch="llama", width=64)
    assert "is a projector for gemma3 models, but gemma-3-4b-it.gguf is a llama model" in unpaired(
        find_vision_pair(llama, tmp_path, mmproj=gemma_proj))


def test_a_projector_named_for_another_model_is_not_used(tmp_path: Path) -> None:
    model = write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    write_model(tmp_path / "Qwen2-VL-2B-Instruct-Q4_K_M.gguf", arch="qwen2vl", width=64)
    write_projector(tmp_path / "mmproj-Qwen2-VL-2B-Instruct-f16.gguf", ptype="qwen2vl_merger", out_dim=64)
    reason = unpaired(find_vision_pair(model, tmp_path))
    assert "no projector fits llava-v1.5-7b-Q4_K_M.gguf" in reason
    assert "is a projector for qwen2vl models" in reason


# --- missing, damaged and lonely files ---------------------------------------------------------------

def test_missing_projector_for_a_vision_model(tmp_path: Path) -> None:
    model = write_model(tmp_path / "Qwen2-VL-2B-Instruct-Q4_K_M.gguf", arch="qwen2vl", width=64)
    reason = unpaired(find_vision_pair(model, tmp_path))
    assert "looks like a vision model, but no projector (mmproj) file was found" in reason
    assert "Put its mmproj-*.gguf file in the same folder" in reason
    scan = scan_vision([tmp_path])
    assert [u.model for u in scan.unpaired_models] == [model]
    assert "looks like a vision model" in format_vision(scan)


def test_explicit_projector_that_does_not_exist(tmp_path: Path) -> None:
    model = write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    reason = unpaired(find_vision_pair(model, tmp_path, mmproj=tmp_path / "mmproj-gone.gguf"))
    assert "mmproj-gone.gguf does not exist" in reason and "Download the mmproj file again" in reason


def truncate(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_truncated_projector_is_reported_not_skipped(tmp_path: Path) -> None:
    """A generic projector that would fit must not stand in for the model's own damaged one."""
    model = write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    mmproj = truncate(write_projector(tmp_path / "llava-v1.5-7b-mmproj-f16.gguf", out_dim=64), 0.02)
    write_projector(tmp_path / "mmproj-model-f16.gguf", out_dim=64)
    reason = unpaired(find_vision_pair(model, tmp_path))
    assert f"the projector for {model.name}, {mmproj.name}, cannot be used" in reason
    assert "truncated" in reason and "Download the mmproj file again" in reason
    scan = scan_vision([tmp_path])
    assert any(p == mmproj and "truncated" in why for p, why in scan.unpaired_projectors)


def test_corrupt_projector(tmp_path: Path) -> None:
    model = write_model(tmp_path / "gemma-3-4b-it-q4_0.gguf", arch="gemma3", width=64)
    bad = tmp_path / "mmproj-gemma-3-4b-it-f16.gguf"
    bad.write_bytes(b"PK\x03\x04" + bytes(200))
    reason = unpaired(find_vision_pair(model, tmp_path))
    assert bad.name in reason and "not a GGUF file" in reason and "ZIP archive" in reason


def test_damaged_projector_of_another_model_does_not_block(tmp_path: Path) -> None:
    model = write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    good = write_projector(tmp_path / "llava-v1.5-7b-mmproj-f16.gguf", out_dim=64)
    (tmp_path / "mmproj-Qwen2-VL-2B-Instruct-f16.gguf").write_bytes(b"GGUF")
    assert paired(find_vision_pair(model, tmp_path)).mmproj == good


def test_a_projector_alone(tmp_path: Path) -> None:
    mmproj = write_projector(tmp_path / "mmproj-Qwen2-VL-2B-Instruct-f16.gguf", ptype="qwen2vl_merger")
    assert "is a vision projector (mmproj), not a chat model" in unpaired(find_vision_pair(mmproj, tmp_path))
    scan = scan_vision([tmp_path])
    assert scan.unpaired_projectors == [(mmproj, "no language model in the same folders to pair it with")]
    assert "mmproj-Qwen2-VL-2B-Instruct-f16.gguf: not paired: no language model" in format_vision(scan)


def test_a_language_model_named_as_the_projector(tmp_path: Path) -> None:
    model = write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    text_model = write_model(tmp_path / "mmproj-llava-v1.5-7b.gguf", width=64)
    reason = unpaired(find_vision_pair(model, tmp_path, mmproj=text_model))
    assert "is not a vision projector (mmproj): its metadata says it is a llama language model" in reason


@pytest.mark.parametrize("change, problem", [
    (dict(vision=False), "does not declare a vision encoder"),
    (dict(vision=False, overrides={"clip.has_audio_encoder": True}), "audio projector"),
    (dict(overrides={"clip.vision.image_size": 32.0}), "clip.vision.image_size is a float32, not a uint32"),
    (dict(drop=["clip.vision.patch_size"]), "lacks the metadata key clip.vision.patch_size"),
    (dict(overrides={"clip.vision.image_mean": [0.5]}), "clip.vision.image_mean is missing or is not a list"),
    (dict(overrides={"clip.vision.image_std": int32_list([1, 1, 1])}), "clip.vision.image_std"),
    (dict(drop=["mm.2.weight"]), "lacks the tensor mm.2.weight"),
    (dict(drop=["v.patch_embd.weight"]), "lacks the tensor v.patch_embd.weight"),
])
def test_projectors_llama_cpp_would_abort_on_are_refused(tmp_path: Path, change: dict, problem: str) -> None:
    """clip.cpp asserts (kills the process) or dereferences null for each of these."""
    model = write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    write_projector(tmp_path / "llava-v1.5-7b-mmproj-f16.gguf", out_dim=64, **change)
    reason = unpaired(find_vision_pair(model, tmp_path))
    assert problem in reason and "cannot be used" in reason


def test_a_broken_model_file(tmp_path: Path) -> None:
    model = tmp_path / "llava-v1.5-7b-Q4_K_M.gguf"
    model.write_bytes(b"GGUF" + bytes(10))
    assert "too small to be a GGUF file" in unpaired(find_vision_pair(model, tmp_path))


def test_scan_lists_pairs_and_leftovers(tmp_path: Path) -> None:
    write_model(tmp_path / "llava-v1.5-7b-Q4_K_M.gguf", width=64)
    write_projector(tmp_path / "llava-v1.5-7b-mmproj-f16.gguf", out_dim=64)
    write_projector(tmp_path / "mmproj-SmolVLM-256M-Instruct-Q8_0.gguf", ptype="idefics3", out_dim=64)
    text = format_vision(scan_vision([tmp_path, tmp_path]))  # a folder listed twice counts once
    assert text.startswith("VISION\n")
    assert "llava-v1.5-7b-Q4_K_M.gguf + llava-v1.5-7b-mmproj-f16.gguf: same name" in text
    assert "Llava15ChatHandler" in text
    assert ("mmproj-SmolVLM-256M-Instruct-Q8_0.gguf: not paired: no model here matches this idefics3 "
            "projector, output size 64") in text
    assert text.count("llava-v1.5-7b-mmproj-f16.gguf") == 1


# --- handler choice --------------------------------------------------------------------------------

def facts(model: str, arch: str, ptype: str, template: str = "images", pins: bool = False,
          name: str | None = None) -> tuple[ModelFacts, ProjectorFacts]:
    m = ModelFacts(Path(f"{model}.gguf"), arch, 64, name, None, None, template != "none",
                   template_takes_images=template == "images", template_is_chatml=template == "chatml")
    p = ProjectorFacts(Path("mmproj-model-f16.gguf"), ptype, 64, True, None, None, None, None, pins)
    return m, p


@pytest.mark.parametrize("model, arch, ptype, kwargs, handler", [
    ("Qwen2-VL-2B-Instruct-Q4_K_M", "qwen2vl", "qwen2vl_merger", {}, "Qwen25VLChatHandler"),
    ("Qwen2.5-VL-7B-Instruct-Q4_K_M", "qwen2vl", "qwen2.5vl_merger", {}, "Qwen25VLChatHandler"),
    ("MiniCPM-V-2_6-Q4_K_M", "qwen2", "resampler", {}, "MiniCPMv26ChatHandler"),
    ("ggml-model-Q4_K_M", "qwen2", "resampler", {}, "MiniCPMv26ChatHandler"),
    ("llava-v1.6-mistral-7b.Q4_K_M", "llama", "mlp", {}, "Llava16ChatHandler"),
    ("ggml-model-q4_k", "llama", "mlp", dict(pins=True, name="llava hf"), "Llava16ChatHandler"),
    ("llava-v1.5-7b-Q4_K_M", "llama", "mlp", {}, "Llava15ChatHandler"),
    ("bakllava-1-Q4_K_M", "mistral", "mlp", {}, "Llava15ChatHandler"),
    ("nanollava-text-model-f16", "qwen2", "mlp", {}, "NanoLlavaChatHandler"),
    ("moondream2-text-model-f16", "phi2", "mlp", {}, "MoondreamChatHandler"),
    ("llama-3-vision-alpha-Q4_K_M", "llama", "mlp", {}, "Llama3VisionAlphaChatHandler"),
    ("obsidian-3b-q6", "stablelm", "mlp", {}, "ObsidianChatHandler"),
    ("gemma-3-4b-it-q4_0", "gemma3", "gemma3", {}, "MTMDChatHandler"),
    ("SmolVLM-256M-Instruct-Q8_0", "llama", "idefics3", {}, "MTMDChatHandler"),
    ("some-model", "llama", "mlp", dict(template="none"), "Llava15ChatHandler"),
    ("some-model", "llama", "mlp", dict(template="chatml"), "Qwen25VLChatHandler"),
    ("some-model", "llama", "mlp", dict(template="text only"), "Llava15ChatHandler"),
])
def test_handler_choice(model: str, arch: str, ptype: str, kwargs: dict, handler: str) -> None:
    chosen, why = choose_handler(*facts(model, arch, ptype, **kwargs))
    assert chosen == handler and why


def test_every_handler_name_exists_in_the_installed_llama_cpp() -> None:
    """Read as text, so the check runs (and fails loudly) without importing llama_cpp."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llama-cpp-python is not installed")
    source = (Path(spec.submodule_search_locations[0]) / "llama_chat_format.py").read_text()
    import assistant.models.vision_match as vp  # where choose_handler lives

    names = set(re.findall(r'return \(?"(\w+ChatHandler)"', Path(vp.__file__).read_text()))
    assert len(names) >= 9
    for name in names:
        assert re.search(rf"^class {name}\b", source, re.M), name


def test_pairing_core_imports_no_llama_cpp() -> None:
    code = ("import sys, assistant.models.vision_pairing, assistant.models.projector, "
            "assistant.models.gguf_writer; "
            "print([m for m in ('llama_cpp', 'PySide6', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_generated_tensor_sizes_are_checked(tmp_path: Path) -> None:
    from assistant.models.gguf_writer import write_gguf

    with pytest.raises(ValueError, match="16 bytes given, 32 expected"):
        write_gguf(tmp_path / "x.gguf", {"general.architecture": "llama"},
                   [TensorData("w", (8,), 0, bytes(16))])
