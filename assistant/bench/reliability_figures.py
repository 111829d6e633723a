"""One row of `assistant bench reliability`: what a sweep did, how often, and what went wrong.

Each sweep module (`bench/reliability_*.py`) returns a list of these; `bench/reliability.py` runs the
sweeps with quick or full counts and prints them as the README's reliability table. The normal test
suite runs the same sweeps with quick counts (tests/reliability/) and asserts `failures == 0`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Figure:
    name: str  # what was done, e.g. "kill -9 of the engine mid-answer"
    runs: int  # how many times
    failures: int  # runs that broke a promise (crash of the window, lost data, no message ...)
    figure: str = ""  # the measured value where there is one, e.g. "RSS +1.2 MB / 100 turns"
    notes: list[str] = field(default_factory=list)  # each failure in words (first few), or findings

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def row(self) -> str:
        """A Markdown table row: | sweep | runs | failures | figure |"""
        return f"| {self.name} | {self.runs} | {self.failures} | {self.figure} |"
