"""How the image search shows a result's match: a strength relative to the other results, and a date.

Plain Python (the panel in `assistant.ui.library.image_search` renders it; tests check it without a display).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

STRENGTH_DOTS = 4
STRENGTH_WORDS = {1: "a weak match", 2: "a fair match", 3: "a good match", 4: "among the best"}


def match_strengths(scores: Sequence[float]) -> list[int]:
    """1-4 dots per result, relative to the best and the worst shown: the best always gets 4.

    Relative because a CLIP cosine has no meaning of its own (0.3 is excellent for one model and
    poor for another); results within a hair of each other (all alike) all get 4.
    """
    if not scores:
        return []
    best, worst = max(scores), min(scores)
    if best - worst < 1e-6:
        return [STRENGTH_DOTS] * len(scores)
    return [1 + round((STRENGTH_DOTS - 1) * (s - worst) / (best - worst)) for s in scores]


def shared_date(timestamp: float) -> str:
    """A caption date such as '07 Mar 2025' in local time; '' for an unknown time."""
    return time.strftime("%d %b %Y", time.localtime(timestamp)) if timestamp > 0 else ""
