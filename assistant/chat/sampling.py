"""Which sampling an answer gets: per model and question, overridden by the model file and the user.

Plain Python, no I/O: the session passes in what it knows (`ModelTraits`, the question, the settings)
and gets back the values and a sentence saying why, which are stored with the answer.

Layers, each overriding the one before, field by field:

1. **The question.** A short factual question ("What is the capital of Australia?") is answered
   greedily (temperature 0): there is one right answer and sampling can only move away from the model's
   best guess. On 14 tuning questions (tests/data/factual_qa_tuning.json) the bundled 0.5B model was
   right 12 times greedily and 9.0 times on average at the old temperature 0.7 (eight seeds: 7-11).
2. **The model's size**, for everything else (explanations, code, writing): llama.cpp samples with
   temperature 0.8, top-k 40, top-p 0.95, min-p 0.05 and no repeat penalty; LM Studio shows 0.8 and
   min-p 0.05 too. Small models (< 3B weights) wander at those temperatures, so they get 0.3 and
   min-p 0.1 (min-p drops tokens under a tenth of the likeliest one's probability: the long tail where
   a small model's mistakes live); on the tuning set 0.3 kept 11.4 of 14 on average, 0.7 9.0. Larger
   or unknown models (a remote server) get 0.7 with llama.cpp's other values.
3. **The model file**: `general.sampling.*` values in the GGUF (its makers' recommendation, e.g. a
   reasoning model that must not decode greedily) replace 1 and 2 for the fields they give.
4. **The user**: every field set in Settings (None there means automatic) wins over all of the above.

The seed is drawn fresh for every answer (`secrets`) unless Settings fixes one, so a fresh process no
longer repeats the sample the previous one drew: llama-cpp-python seeds every process identically when
no seed is given. It is recorded with the answer either way, so an answer can be reproduced.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from assistant.models.traits import ModelTraits
from assistant.protocols import GenerationOptions
from assistant.settings import Settings

Task = Literal["factual", "open"]

SMALL_MODEL_PARAMETERS = 3_000_000_000
FIELDS = ("temperature", "top_k", "top_p", "min_p", "repeat_penalty")
# llama.cpp common_params_sampling, the values LM Studio also starts from (besides temperature).
LIBRARY_DEFAULTS: dict[str, float] = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
                                      "repeat_penalty": 1.0}
SMALL_MODEL: dict[str, float] = {"temperature": 0.3, "min_p": 0.1}
LARGER_MODEL: dict[str, float] = {"temperature": 0.7}
FACTUAL: dict[str, float] = {"temperature": 0.0}

MAX_FACTUAL_CHARS = 200
MAX_FACTUAL_WORDS = 30
SEED_LIMIT = 2**31 - 1  # llama.cpp takes a uint32 with 0xFFFFFFFF meaning "random"; servers take int32
_QUESTION_START = re.compile(
    r"^(what|which|who|whom|whose|when|where|how (many|much|far|long|old|tall|big)|name|is|are|was|were|"
    r"does|do|did|can|in which|on which)\b", re.IGNORECASE)
# Asking for something written, reasoned or made up: many good answers, so sampling has room to help.
_OPEN_CUES = re.compile(
    r"\b(write|compose|draft|story|poem|essay|joke|imagine|brainstorm|ideas?|suggest|creative|invent|"
    r"describe|explain|why|summari[sz]e|rewrite|translate|code|function|script|program|list|compare|"
    r"pros|opinion|advice|plan|design|improve|review)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Sampling:
    """The sampler settings for one answer, and why."""

    temperature: float
    top_k: int
    top_p: float
    min_p: float
    repeat_penalty: float
    seed: int
    task: Task
    reason: str  # one sentence for "What the model was told" and the export

    def options(self, max_tokens: int) -> GenerationOptions:
        return GenerationOptions(max_tokens=max_tokens, temperature=self.temperature, top_p=self.top_p,
                                 seed=self.seed, top_k=self.top_k, min_p=self.min_p,
                                 repeat_penalty=self.repeat_penalty)

    def record(self) -> dict[str, object]:
        """What is stored with the answer (the engine's own record replaces the values when it comes)."""
        values = self.options(0).sampling()
        return {**values, "task": self.task, "reason": self.reason}


def classify(question: str) -> Task:
    """'factual' for a short question after a fact, else 'open'. Cheap and conservative: a question
    wrongly called open is still sampled at a low temperature on a small model."""
    text = " ".join(question.split())
    if not text or len(text) > MAX_FACTUAL_CHARS or len(text.split()) > MAX_FACTUAL_WORDS:
        return "open"
    if _OPEN_CUES.search(text):
        return "open"
    first = re.split(r"(?<=[.?!])\s", text, maxsplit=1)[0]
    return "factual" if "?" in text or _QUESTION_START.match(first) else "open"


def choose(
    traits: ModelTraits,
    task: Task,
    settings: Settings,
    draw_seed: Callable[[], int] = lambda: secrets.randbelow(SEED_LIMIT),
) -> Sampling:
    """The four layers of the module docstring, field by field."""
    small = traits.parameters is not None and traits.parameters < SMALL_MODEL_PARAMETERS
    values = dict(LIBRARY_DEFAULTS) | (SMALL_MODEL if small else LARGER_MODEL)
    kind = "small" if small else ("larger" if traits.parameters is not None else "unknown")
    why = [f"a {kind} model ({traits.size_text})"]
    if task == "factual":
        values |= FACTUAL
        why.insert(0, "a short factual question, answered greedily")
    if traits.recommended:
        values |= traits.recommended
        why.append("the model file's recommended " + ", ".join(sorted(traits.recommended)))
    chosen_by_user = {name: getattr(settings, name) for name in FIELDS if getattr(settings, name) is not None}
    if chosen_by_user:
        values |= chosen_by_user
        why.append("your settings for " + ", ".join(sorted(chosen_by_user)))
    seed = settings.seed if settings.seed is not None else draw_seed()
    why.append("your seed" if settings.seed is not None else "a fresh seed")
    return Sampling(
        temperature=float(values["temperature"]), top_k=int(values["top_k"]), top_p=float(values["top_p"]),
        min_p=float(values["min_p"]), repeat_penalty=float(values["repeat_penalty"]), seed=int(seed),
        task=task, reason="; ".join(why) + ".")
