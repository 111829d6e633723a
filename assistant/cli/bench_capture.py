"""`assistant bench capture`: capture → chip and capture → text read in the real window (X11)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="assistant bench capture",
        description="time screen captures in the real window (needs X11; without a display: xvfb-run)",
    )
    parser.add_argument("--runs", type=int, default=5, help="captures to time (default 5)")
    args = parser.parse_args(argv)
    from assistant.ui.capture.measure import MeasureError, measure

    try:
        lines = measure(max(1, args.runs))
    except MeasureError as error:
        print(f"assistant: bench capture: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0
