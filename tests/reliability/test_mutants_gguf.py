"""GGUF mutants (issue 15): a tiny real model broken one header field, count, length or tensor offset at
a time, loaded through the real engine process and chosen in the real window. Every mutant is refused
with a message, or loads and answers; the engine may die and restart, the window never does.

The aimed mutants (a repeated vocabulary entry, layer and expert counts out of range) abort plain
llama.cpp with SIGABRT, so the preflight's refusal of them is shown to matter, not assumed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from model_files import smollm2_path

from assistant.bench import reliability_faults
from assistant.bench.fault_gguf import aimed, build_seed
from assistant.models import gguf

pytestmark = pytest.mark.timeout(600)

RAW_LOAD = "import llama_cpp, sys; llama_cpp.Llama(model_path=sys.argv[1], n_ctx=128, verbose=False)"


@pytest.fixture(scope="module")
def aimed_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("aimed")
    seed = build_seed(smollm2_path())
    files = []
    for index, mutant in enumerate(aimed(smollm2_path(), seed)):
        path = folder / f"aimed-{index}.gguf"
        path.write_bytes(mutant.data)
        files.append((mutant.name, path))
    return files


def test_the_seed_is_a_model_llama_cpp_loads(tmp_path: Path) -> None:
    seed = tmp_path / "seed.gguf"
    seed.write_bytes(build_seed(smollm2_path()).data)
    done = subprocess.run([sys.executable, "-c", RAW_LOAD, str(seed)], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    gguf.preflight(seed)


def test_aimed_mutants_abort_plain_llama_cpp_and_the_preflight_refuses_them(
    aimed_files: list[tuple[str, Path]]
) -> None:
    for name, path in aimed_files:
        done = subprocess.run([sys.executable, "-c", RAW_LOAD, str(path)], capture_output=True, timeout=120)
        assert done.returncode == -signal.SIGABRT, f"{name}: plain llama.cpp exited {done.returncode}"
        with pytest.raises(gguf.GGUFError, match="damaged") as refused:
            gguf.preflight(path)
        assert path.name in str(refused.value), name


def test_a_repeated_vocabulary_entry_is_named(aimed_files: list[tuple[str, Path]]) -> None:
    path = dict(aimed_files)["a vocabulary entry repeated"]
    with pytest.raises(gguf.GGUFError, match=r"holds the token .* twice"):
        gguf.preflight(path)


def test_a_model_llama_cpp_refuses_gets_llama_cpp_s_reason(tmp_path: Path) -> None:
    """Regression: every file llama.cpp refused was "Failed to load model from file: PATH"; the reason
    it logged (a missing tensor, a wrong shape) went to a silenced stderr."""
    from assistant.engines.llama import LlamaChatModel
    from assistant.models.catalog import ModelError

    seed = build_seed(smollm2_path())
    data = bytearray(seed.data)
    spot = next(s for s in seed.spots if s.what == "value of 'llama.block_count'")
    data[spot.at:spot.at + 4] = (3).to_bytes(4, "little")  # 3 layers claimed, 2 in the file
    path = tmp_path / "three-layers.gguf"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"three-layers.gguf: tensor 'blk.2.attn_norm.weight' not found\."):
        LlamaChatModel.load(path, context_size=128, threads=1)
    LlamaChatModel.load(smollm2_path(), context_size=128, threads=1).close()  # and the next load is clean


def test_mutants_through_the_engine_all_get_a_message(tmp_path: Path) -> None:
    figure = reliability_faults.gguf_mutants(reliability_faults.QUICK.gguf, tmp_path)
    assert figure.runs == reliability_faults.QUICK.gguf
    assert figure.failures == 0, figure.notes
    assert "refused with a message" in figure.figure


def test_mutants_chosen_in_the_window_are_refused_in_the_status_bar(tmp_path: Path) -> None:
    figure = reliability_faults.gguf_window(reliability_faults.QUICK.gguf_window, tmp_path)
    assert figure.runs == reliability_faults.QUICK.gguf_window
    assert figure.failures == 0, figure.notes
