"""How busy other programs keep the CPU (models/cpu_busy.py), and the first-run benchmark measuring
once more when they did (host/benchmark.py). The "other programs" are real busy processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from assistant.host.benchmark import RERUN_MIN_S, _measure_quietly
from assistant.models import cpu_busy

BUSY_LOOP = "import time\nprint('busy', flush=True)\nend = time.time() + 30\nwhile time.time() < end: pass"


def test_proc_stat_lines_are_read() -> None:
    busy, total = cpu_busy.parse_proc_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n", 100.0) or (0, 0)
    assert (busy, total) == (1.5, 10.0)  # idle and iowait are not busy
    assert cpu_busy.parse_proc_stat("intr 1 2 3", 100.0) is None
    stat = "4242 (python (worker) x) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3"
    assert cpu_busy.parse_own_stat(stat, 100.0) == 3.0  # utime 250 + stime 50 ticks
    assert cpu_busy.parse_own_stat("garbage", 100.0) is None
    assert cpu_busy.others_share(None, None) is None


@pytest.fixture
def other_programs() -> Iterator[None]:
    """Two busy processes: on a two-core machine, everything the benchmark does not use itself."""
    children = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdout=subprocess.PIPE, text=True)
                for _ in range(2)]  # fmt: skip
    for child in children:  # settled: each says so once it is spinning (interpreter start is the slow part)
        assert child.stdout is not None and child.stdout.readline().strip() == "busy"
    yield
    for child in children:
        child.kill()
        child.wait()


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.mark.skipif(cpu_busy.sample() is None, reason="no /proc on this system")
def test_busy_programs_are_seen_and_our_own_work_is_not_counted(other_programs: None) -> None:
    before = cpu_busy.sample()
    spin(0.8)  # our own work is subtracted; the children's is not
    share = cpu_busy.others_share(before, cpu_busy.sample())
    assert share is not None and share > cpu_busy.BUSY_SHARE


@pytest.mark.skipif(cpu_busy.sample() is None, reason="no /proc on this system")
def test_a_busy_benchmark_is_measured_again_and_the_faster_run_kept(other_programs: None) -> None:
    llama_speed = pytest.importorskip("assistant.engines.llama_speed")
    rates = iter([5.0, 9.0])
    runs = 0

    def run() -> object:  # real work in this process while the children keep the CPU busy
        nonlocal runs
        runs += 1
        spin(0.5)
        rate = next(rates)
        return llama_speed.SpeedSample(prompt_tokens=8, prompt_s=0.1, decode_tokens=11, decode_s=10 / rate)

    sample, busy, count = _measure_quietly(run, deadline=time.perf_counter() + 30)  # type: ignore[arg-type]
    assert (runs, count) == (2, 2) and sample is not None
    assert sample.decode_tokens_per_s == pytest.approx(9.0)  # the faster of the two
    assert busy is not None and busy > cpu_busy.BUSY_SHARE

    runs = 0
    rates = iter([5.0])
    _sample, _busy, count = _measure_quietly(run, deadline=time.perf_counter() + RERUN_MIN_S / 2)  # type: ignore[arg-type]
    assert (runs, count) == (1, 1)  # no time left before the deadline: one run, marked busy
