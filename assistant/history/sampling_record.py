"""How a stored answer's sampling record reads: short under the answer, whole in a tooltip and the export.

The record is what `chat/sampling.py` chose and the engine confirmed, stored with the answer (schema 3).
"""

from __future__ import annotations


def describe(sampling: dict) -> str:
    """'greedy' or 'temperature 0.3, seed 123': the short form shown under an answer."""
    temperature = sampling.get("temperature")
    if not isinstance(temperature, (int, float)):
        return ""
    text = "greedy" if temperature <= 0 else f"temperature {temperature:g}"
    seed = sampling.get("seed")
    return f"{text}, seed {seed}" if isinstance(seed, int) and temperature > 0 else text


def details(sampling: dict) -> str:
    """Every value and the reason, for a tooltip and the Markdown export."""
    names = {"temperature": "temperature", "top_k": "top-k", "top_p": "top-p", "min_p": "min-p",
             "repeat_penalty": "repeat penalty", "seed": "seed"}
    values = ", ".join(f"{label} {sampling[key]:g}" if isinstance(sampling[key], float) else
                       f"{label} {sampling[key]}" for key, label in names.items() if key in sampling)
    reason = sampling.get("reason")
    return f"{values} ({reason})" if isinstance(reason, str) and reason else values
