"""Which llama.cpp backend runs, and how many layers a load offloaded, as the real engine process reports
it on SmolLM2-135M (30 blocks + the output layer = 31 layers).

This project's machines and CI install the CPU build, so every report here must say CPU and 0 layers —
whatever the settings ask (-1 = all layers): a report that claimed a GPU here would be wrong. The two
independent readings of the build (ggml's backend registry in the engine, the library files the window
reads for About) must agree with each other and with what llama.cpp itself prints.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_assistant
from model_files import smollm2_path

from assistant.host.client import EngineClient, load_model
from assistant.host.messages import (
    BenchmarkRequest,
    Done,
    EngineConfig,
    ModelBenchmarked,
    ModelLoaded,
    result_of,
)
from assistant.models.accelerator import CPU, Accelerator, installed_backend

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.timeout(240)

SMOLLM2_LAYERS = 31
CPU_REPORT = Accelerator(backend=CPU, offloaded_layers=0, total_layers=SMOLLM2_LAYERS)


def test_loading_reports_the_cpu_build_and_no_offloaded_layers(tmp_path: Path) -> None:
    config = EngineConfig(str(smollm2_path()), str(tmp_path), context_size=512, threads=1, gpu_layers=-1)
    with EngineClient() as engine:
        loaded = load_model(engine, config)
        assert isinstance(loaded, ModelLoaded), loaded
        assert loaded.accelerator == CPU_REPORT
        assert loaded.gpu_layers == 0  # "all layers" resolved to none on a build that cannot offload
        again = load_model(engine, config)  # already loaded: the report comes again, unchanged
        assert isinstance(again, ModelLoaded) and again.seconds == 0.0
        assert again.accelerator == CPU_REPORT


def test_the_benchmark_result_carries_the_report(tmp_path: Path) -> None:
    smollm2_path()
    with EngineClient() as engine:
        request = BenchmarkRequest("smollm2-135m-instruct", str(tmp_path), 1, budget_s=0.0)
        events = list(engine.stream(request))
    assert isinstance(events[-1], Done) and events[-1].status == "complete", events[-3:]
    [result] = [r for e in events if (r := result_of(e, ModelBenchmarked))]
    assert result.accelerator == CPU_REPORT
    assert (result.gpu_offload, result.gpu_layers) == (False, 0)


def test_selftest_prints_what_runs_the_model(tmp_path: Path) -> None:
    result = run_assistant("selftest", "--model", str(smollm2_path()), data_dir=tmp_path / "data",
                           config_dir=tmp_path / "config", timeout=200)
    assert "runs on: GPU: none (CPU build of llama.cpp), 0/31 layers offloaded\n" in result.stdout, (
        result.stdout + result.stderr)


def test_the_engine_and_the_library_files_agree_on_the_build() -> None:
    code = (
        "import llama_cpp\n"
        "from assistant.engines.llama_build import build_info\n"
        "info = build_info()\n"
        "print(info.backend, info.gpu, llama_cpp.llama_supports_gpu_offload(),"
        " llama_cpp.llama_print_system_info().decode().split(' :')[0])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=True)
    backend, has_gpu, supports_offload, first_system_info_backend = result.stdout.split()
    assert backend == installed_backend() == CPU
    assert has_gpu == supports_offload == "False"
    assert first_system_info_backend == "CPU"  # llama.cpp's own words: only the CPU backend is compiled in
