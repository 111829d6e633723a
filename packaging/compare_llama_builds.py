"""Compare two builds of llama-cpp-python (say the portable and the AVX-512 CPU wheels) on one GGUF.

    .venv/bin/python packaging/compare_llama_builds.py WHEEL_A WHEEL_B [--model GGUF] [--rounds 2]

Each wheel is unpacked into a folder of its own (pip --target, no dependencies: the venv's numpy and
jinja2 serve both) and measured in a child process of this Python, the builds alternating round by
round so that both see the same machine: a 320-token prompt evaluated from an empty cache (median of 3,
after one warm-up) and 32 tokens decoded greedily, with 2 threads. The two builds cannot share one
process (both are `llama_cpp`), so the ratio compares processes started the same way, one after the
other. Prints tokens/s per build and round, then B / A.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_MODEL = Path.home() / ".local/share/assistant/bundled/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

# Runs in the child, with the build's folder first on sys.path.
MEASURE = r"""
import json, statistics, sys, time
import llama_cpp
from llama_cpp import Llama
text = ("Error: the print spooler stopped unexpectedly. Ticket 4711-003. Restart the service, check the "
        "queue, and remove stuck jobs before you print again. ") * 12
llm = Llama(sys.argv[1], n_ctx=2048, n_threads=2, n_threads_batch=2, verbose=False)
tokens = llm.tokenize(text.encode())[:320]
times = []
for _ in range(4):
    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)
    times.append(time.perf_counter() - started)
started = time.perf_counter()
for _ in range(32):
    llm.eval([llm.sample(temp=0.0)])
decode = 32 / (time.perf_counter() - started)
print(json.dumps({"file": llama_cpp.__file__, "prompt": len(tokens) / statistics.median(times[1:]),
                  "decode": decode, "system": llama_cpp.llama_print_system_info().decode().strip()}))
"""


def unpack(wheel: Path, folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(folder), str(wheel)], check=True)
    return folder


def measure(folder: Path, model: Path) -> dict[str, float | str]:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(model)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"}, check=False)
    if done.returncode != 0:  # a build for instructions this CPU lacks dies here (SIGILL, SIGSEGV)
        raise SystemExit(f"{folder}: the measurement died with {done.returncode}: {done.stderr[-500:]}")
    result: dict[str, float | str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheels", nargs=2, type=Path, help="wheel A (the baseline), wheel B")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llama-builds-") as temp:
        folders = [unpack(wheel, Path(temp) / name) for wheel, name in zip(args.wheels, "AB", strict=True)]
        runs: dict[str, list[dict[str, float | str]]] = {"A": [], "B": []}
        for round_ in range(args.rounds):
            for name, folder in zip("AB", folders, strict=True):
                result = measure(folder, args.model)
                runs[name].append(result)
                print(f"round {round_ + 1} {name}: prompt {float(result['prompt']):6.1f} tok/s, "
                      f"decode {float(result['decode']):5.1f} tok/s")
    for name, wheel in zip("AB", args.wheels, strict=True):
        print(f"{name} = {wheel}\n    {runs[name][0]['system']}")
    for key in ("prompt", "decode"):
        a = statistics.median(float(r[key]) for r in runs["A"])
        b = statistics.median(float(r[key]) for r in runs["B"])
        print(f"{key:6}: A {a:6.1f} tok/s, B {b:6.1f} tok/s, B / A = {b / a:.2f}x  ({args.model.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
