"""`assistant bench fit`: the first-run benchmark of each installed chat model, against its 15 s budget.

It sends the same `BenchmarkRequest` the hardware and models panel sends, through a real engine
process, in a fresh data folder by default — so a bundled model is assembled and verified inside its
measurement, as on a real first start. Printed per model: seconds from request to Done as this process
sees it (the number the budget is about), the engine's own split (assembly+load, prompt, decode) and
the ratio to the 15 s budget (≤ 1.0 meets it).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from assistant.host.client import EngineClient
from assistant.host.messages import BenchmarkRequest, Done, Failed, ModelBenchmarked, result_of
from assistant.models import fit as model_fit

logger = logging.getLogger(__name__)

BUDGET_S = 15.0


def _run(client: EngineClient, model: str, data_dir: Path, threads: int
         ) -> tuple[float, ModelBenchmarked | None, str]:
    """(wall seconds, result or None, 'complete' or why not)."""
    started = time.perf_counter()
    result: ModelBenchmarked | None = None
    for event in client.stream(BenchmarkRequest(model, str(data_dir), threads)):
        result = result_of(event, ModelBenchmarked) or result
        if isinstance(event, Failed):
            return time.perf_counter() - started, None, event.message
        elif isinstance(event, Done):
            return time.perf_counter() - started, result, event.status
    return time.perf_counter() - started, None, "the engine ended the benchmark without a result"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench fit", description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: every installed chat model)")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (default 0: automatic)")
    parser.add_argument("--runs", type=int, default=1, help="repeat each model; later runs find it assembled")
    parser.add_argument("--data-dir", type=Path, help="use this data folder (default: a fresh temporary one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="assistant-bench-fit-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        found = model_fit.survey(data_dir)
        print("\n".join(found.machine.summary_lines()))
        names = args.models.split(",") if args.models else [r.name for r in found.rows
                                                            if model_fit.should_measure(r)]
        for row in found.rows:
            if row.name not in names:
                print(f"skipped {row.name}: {row.status_text}, fits: {row.fit}")
        client = EngineClient()
        client.start()
        failures = 0
        try:
            print(f"{'model':<30} {'run':>3} {'wall s':>7} {'load s':>7} {'prompt t/s':>10} "
                  f"{'decode t/s':>10} {'÷ 15 s':>7} {'others':>7}")
            speeds: dict[str, model_fit.Speed] = {}
            offload: bool | None = None
            for name in names:
                walls = []
                for run in range(1, args.runs + 1):
                    wall, result, status = _run(client, name, data_dir, args.threads)
                    if result is None:
                        print(f"{name:<30} {run:>3} failed: {status}")
                        failures += 1
                        break
                    walls.append(wall)
                    offload = result.gpu_offload
                    speeds[name] = model_fit.Speed(result.load_s, result.prompt_tokens_per_s,
                                                   result.decode_tokens_per_s, result.total_s,
                                                   result.busy_share)
                    # "others": the CPU share other programs took during the kept measurement, and
                    # "x2" when a busy first run was measured again (host/benchmark.py).
                    others = "?" if result.busy_share is None else f"{result.busy_share:.0%}"
                    again = " x2" if result.runs > 1 else ""
                    print(f"{name:<30} {run:>3} {wall:7.2f} {result.load_s:7.2f} "
                          f"{result.prompt_tokens_per_s:10.1f} {result.decode_tokens_per_s:10.1f} "
                          f"{wall / BUDGET_S:7.2f} {others:>7}{again}")
                if len(walls) > 1:
                    print(f"{name:<30} median {statistics.median(walls):.2f} s "
                          f"(ratio {statistics.median(walls) / BUDGET_S:.2f})")
            if offload is not None:  # a property of the engine's llama.cpp build, so it reports it
                print(f"GPU offload: {'yes' if offload else 'no (CPU build)'}")
            recommended = model_fit.recommend(found.rows, speeds)
            print(f"recommended: {recommended} — {model_fit.reason(recommended, speeds)}")
        finally:
            client.shutdown()
    return 1 if failures else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
