"""Image failures in words a user can act on (the image twin of `assistant.audio.errors`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

# Why an image was refused: lets callers (the window, tests) react without parsing the message.
Reason = Literal[
    "missing",  # no such file
    "not_a_file",  # a folder, a device, a pipe
    "unreadable",  # permission denied or an I/O error
    "empty",  # zero bytes
    "file_too_big",  # more bytes than the limit
    "unsupported",  # not one of the allowed formats (checked by content, not by extension)
    "too_many_pixels",  # width x height over the limit (decompression bombs included)
    "too_many_frames",  # an animation with more frames than the limit
    "damaged",  # the decoder failed: truncated, corrupt or hostile data
]

REEXPORT_ADVICE = "The file may be damaged or cut short; save or download it again."
CONVERT_ADVICE = "Save it as PNG or JPEG (any image viewer can) and try again."
SMALLER_ADVICE = "Scale it down (for example to 4000 pixels on the longest side) and try again."


class ImageError(Exception):
    """An image file (or buffer) that the assistant will not decode.

    `str(error)` is the whole user-facing message: which file, what is wrong, what to do.
    """

    def __init__(self, name: str | Path | None, reason: Reason, problem: str, advice: str = "") -> None:
        self.name = str(name) if name is not None else None
        self.reason: Reason = reason
        self.problem = problem
        self.advice = advice
        subject = f"Cannot use image {self.name}" if self.name else "Cannot use this image"
        message = f"{subject}: {problem}."
        if advice:
            message += f" {advice}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[ImageError], tuple[str | None, Reason, str, str]]:
        # Exceptions with custom __init__ arguments need this to survive pickling (engine process).
        return (ImageError, (self.name, self.reason, self.problem, self.advice))
