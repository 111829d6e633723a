"""Audio failures in words a user can act on.

Plain Python (no Qt, no ML library) so the core, the CLI and the window can catch it; the engines
raise it. It is also pickled across the process boundary inside Failed messages as text only.
"""

from __future__ import annotations

from pathlib import Path


class AudioError(Exception):
    """An audio file (or buffer) could not be turned into speech samples.

    `str(error)` is the whole user-facing message: which file, what is wrong with it, what to do.
    """

    def __init__(self, path: str | Path | None, problem: str, advice: str = "") -> None:
        self.path = str(path) if path is not None else None
        self.problem = problem
        self.advice = advice
        subject = f"Cannot read audio file {self.path}" if self.path else "Cannot use this audio"
        message = f"{subject}: {problem}."
        if advice:
            message += f" {advice}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[AudioError], tuple[str | None, str, str]]:
        # Exceptions with custom __init__ arguments need this to survive pickling.
        return (AudioError, (self.path, self.problem, self.advice))


# Advice shared by several failures: what the user can do in each case.
CONVERT_ADVICE = "Convert it to WAV, MP3, FLAC or OGG (for example with Audacity or ffmpeg) and try again."
REEXPORT_ADVICE = "The file may be damaged or cut short; export or download it again."


class LanguageError(ValueError):
    """A language code the speech model does not know (a typo in `--language`, say)."""

    def __init__(self, code: str, multilingual: bool = True) -> None:
        self.code = code
        self.multilingual = multilingual
        hint = "Use a code such as en, de, fr or es, or leave it out to detect the language."
        if not multilingual:
            hint = "This speech model knows English only; choose a multilingual model such as whisper-base."
        super().__init__(f"Unknown language code {code!r}. {hint}")

    def __reduce__(self) -> tuple[type[LanguageError], tuple[str, bool]]:
        return (LanguageError, (self.code, self.multilingual))
