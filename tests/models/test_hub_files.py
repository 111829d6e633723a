"""A hub listing as rows: quantization from names, split GGUFs as one file, the projector that comes
along, and the fit label for a machine (pure functions: no server, no model)."""

from __future__ import annotations

import pytest

from assistant.models.hardware import Hardware
from assistant.models.hub_files import (
    RemoteFile,
    find_file,
    group_files,
    projector_for,
    projector_save_name,
    quant_of,
    shard_of,
)
from assistant.models.hub_fit import assess


@pytest.mark.parametrize(("name", "quant"), [
    ("qwen2.5-1.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
    ("Qwen2.5-0.5B-Instruct-Q8_0.gguf", "Q8_0"),
    ("Phi-3.5-mini-instruct.IQ4_XS.gguf", "IQ4_XS"),
    ("Llama-3.2-1B-Instruct-IQ2_XXS.gguf", "IQ2_XXS"),
    ("gemma-3-4b-it-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("gemma-3-4b-it-BF16.gguf", "BF16"),
    ("mmproj-model-f16.gguf", "F16"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
    ("Q8_0/Meta-Llama-3.1-70B-Instruct-Q8_0-00001-of-00002.gguf", "Q8_0"),
    ("q4_0_4_4-model.gguf", "Q4_0_4_4"),
    ("qwen2-7b.gguf", None),  # "7b" and "2" are not quantizations
    ("nomic-embed-text-v1.5.gguf", None),
])
def test_quantization_is_read_from_the_name(name: str, quant: str | None) -> None:
    assert quant_of(name) == quant


def test_shard_names_follow_gguf_split() -> None:
    assert shard_of("x/Llama-Q4_K_M-00002-of-00003.gguf") == ("Llama-Q4_K_M", 2, 3)
    assert shard_of("model-00004-of-00003.gguf") is None  # index past the count: not a shard
    assert shard_of("model-Q4_K_M.gguf") is None


def listing() -> list[RemoteFile]:
    return [
        RemoteFile("README.md", 5_000, None),
        RemoteFile("Q8_0/big-Q8_0-00002-of-00002.gguf", 4_000_000_000, "b" * 64),
        RemoteFile("Q8_0/big-Q8_0-00001-of-00002.gguf", 5_000_000_000, "a" * 64),
        RemoteFile("torn-Q4_0-00001-of-00003.gguf", 100, "c" * 64),
        RemoteFile("gemma-3-4b-it-Q4_K_M.gguf", 2_500_000_000, "d" * 64),
        RemoteFile("mmproj-BF16.gguf", 850_000_000, "e" * 64),
        RemoteFile("mmproj-F16.gguf", 850_000_000, "f" * 64),
    ]


def test_shards_are_one_logical_file_and_non_gguf_files_are_not_rows() -> None:
    files = group_files(listing())
    assert [f.path for f in files] == ["torn-Q4_0-00001-of-00003.gguf", "gemma-3-4b-it-Q4_K_M.gguf",
                                       "Q8_0/big-Q8_0-00001-of-00002.gguf", "mmproj-BF16.gguf",
                                       "mmproj-F16.gguf"]
    big = files[2]
    assert big.size == 9_000_000_000 and big.quant == "Q8_0" and big.complete
    assert [p.name for p in big.parts] == ["big-Q8_0-00001-of-00002.gguf", "big-Q8_0-00002-of-00002.gguf"]
    assert big.title == "big-Q8_0-00001-of-00002.gguf (2 parts)"
    torn = files[0]
    assert not torn.complete and "only 1 on the hub" in torn.title
    # Any part names the whole set, by path or by file name.
    assert find_file(files, "big-Q8_0-00002-of-00002.gguf") is big
    assert find_file(files, "nothing.gguf") is None


def test_the_projector_that_comes_along_prefers_f16_and_gets_a_name_that_pairs() -> None:
    files = group_files(listing())
    model = find_file(files, "gemma-3-4b-it-Q4_K_M.gguf")
    assert model is not None
    projector = projector_for(model, files)
    assert projector is not None and projector.name == "mmproj-F16.gguf"
    # A generic name would clash with the next vision model's in the one models folder.
    assert projector_save_name(model, projector) == "mmproj-gemma-3-4b-it-F16.gguf"
    assert projector_for(projector, files) is None  # a projector brings no projector


def test_a_projector_named_after_its_model_keeps_its_name_and_wins_over_a_generic_one() -> None:
    files = group_files([
        RemoteFile("Qwen2-VL-2B-Instruct-Q4_K_M.gguf", 1_000, None),
        RemoteFile("mmproj-model-f16.gguf", 10, None),
        RemoteFile("mmproj-Qwen2-VL-2B-Instruct-q8_0.gguf", 10, None),
    ])
    model = find_file(files, "Qwen2-VL-2B-Instruct-Q4_K_M.gguf")
    assert model is not None
    projector = projector_for(model, files)
    assert projector is not None and projector.name == "mmproj-Qwen2-VL-2B-Instruct-q8_0.gguf"
    assert projector_save_name(model, projector) == projector.name
    assert projector_for(find_file(group_files([RemoteFile("a-Q4_0.gguf", 1, None)]), "a-Q4_0.gguf"),
                         []) is None  # a text repository


GB = 1_000_000_000


def machine(total_mb: int = 8192, free_mb: int = 6000, cores: int | None = 2) -> Hardware:
    return Hardware("Linux x86_64", None, cores, cores, total_mb, free_mb, 100_000)


def test_fit_labels_follow_memory_and_estimated_speed() -> None:
    small = assess(int(1.1 * GB), machine())  # a 1.5B Q4_K_M
    assert small.label == "fits" and small.ram_mb == int(1100 * 1.15) + 150
    assert small.tokens_per_s == pytest.approx(12e9 / 1.1e9)
    slow = assess(int(4.4 * GB), machine())  # a 7B Q4_K_M: fits in memory, ~3 tokens/s on 2 cores
    assert slow.label == "slow" and "tokens/s" in slow.reason
    assert assess(int(4.4 * GB), machine(cores=16)).label == "fits"  # 40 GB/s cap: 9 tokens/s
    huge = assess(int(7 * GB), machine())
    assert huge.label == "won't fit" and "8.0 GB" in huge.reason
    tight = assess(2 * GB, machine(free_mb=2000))  # fits the total, not what is free now
    assert tight.label == "slow" and "other programs must close" in tight.reason
    assert assess(GB, Hardware("?", None, None, None, None, None, None)).label == "unknown"
    # A vision model's projector needs memory too, but is not read for every token.
    vision = assess(GB, machine(), projector=850_000_000)
    assert vision.ram_mb == int(1850 * 1.15) + 150 and vision.tokens_per_s == pytest.approx(12.0)


def test_vram_takes_the_weights_off_the_cpu() -> None:
    on_gpu = assess(int(4.4 * GB), machine(), vram_mb=8192)
    assert on_gpu.label == "fits" and on_gpu.ram_mb == 150 and "on the GPU" in on_gpu.reason
    partly = assess(int(9 * GB), machine(), vram_mb=4096)  # 3.8 GB in VRAM, 5.2 GB on the CPU
    assert partly.ram_mb == int(5204 * 1.15) + 150 and "in VRAM" in partly.reason
    assert partly.label == "slow"
