"""Files attached to a question: what kinds exist, and which dropped or picked paths are accepted.

Plain Python (no Qt): the window, the CLI and the store share it. Validation only looks at the name and
at `os.stat` (which never opens the file), so a FIFO that would block a reader, a device that never ends,
a web address or a network share is refused with a message before anything touches its contents.
The engines open an accepted file later, in the engine process.

Kinds are a small registry: a new kind adds its extensions to `EXTENSIONS` and callers opt in through the
`kinds` argument, so a kind a caller cannot use gets a precise message ("images are not supported
yet") instead of "unknown file type". An image's extension only routes it: the engine decides what the
file really is from its content (`images.safe_image`).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

AttachmentKind = Literal["audio", "image", "document"]

# Lower-case extension -> kind. Audio: what PyAV decodes reliably in the engine process.
EXTENSIONS: dict[str, AttachmentKind] = {
    ".wav": "audio", ".wave": "audio", ".mp3": "audio", ".flac": "audio", ".ogg": "audio",
    ".oga": "audio", ".opus": "audio", ".m4a": "audio", ".aac": "audio", ".webm": "audio",
    ".png": "image", ".jpg": "image", ".jpeg": "image", ".webp": "image", ".bmp": "image",
    ".gif": "image", ".tif": "image", ".tiff": "image",
    # Documents: parsed in the engine process (`documents.parsers`), read whole or retrieved from.
    ".pdf": "document", ".docx": "document", ".md": "document", ".markdown": "document",
    ".txt": "document", ".html": "document", ".htm": "document",
}  # fmt: skip
KIND_NAMES: dict[str, str] = {"audio": "recording", "image": "image", "document": "document"}
# What the window and `ask` accept: recordings (transcribed), images (OCR text, CLIP labels) and
# documents (their text, whole or the passages that answer).
SUPPORTED_KINDS: tuple[AttachmentKind, ...] = ("audio", "image", "document")

# "c:" is a Windows drive, not a URL scheme: a scheme needs two or more characters here.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
# In a path (the CLI, a file dialog) only these look like URLs; "notes:v2.wav" stays a file name.
_URL_IN_PATH = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+://|data:)", re.IGNORECASE)
_LOCAL_HOSTS = ("", "localhost")


class AttachmentRefused(ValueError):
    """A path that cannot be attached; str() is the whole message for the user (it names the path)."""

    def __init__(self, shown: str, problem: str, advice: str = "") -> None:
        self.shown = shown
        self.problem = problem
        message = f"Cannot attach {shown}: {problem}."
        super().__init__(f"{message} {advice}" if advice else message)


@dataclass(frozen=True)
class Attachment:
    """One accepted file. `path` is absolute, as it was when attached (it may move later)."""

    kind: AttachmentKind
    path: str
    name: str  # what the user sees: the file name
    size: int  # bytes

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)


def extensions_for(kinds: Iterable[str]) -> list[str]:
    """The extensions (".wav", …) of `kinds`, e.g. for a file dialog's filter."""
    wanted = set(kinds)
    return [ext for ext, kind in EXTENSIONS.items() if kind in wanted]


def from_uri(text: str, kinds: Sequence[str] = SUPPORTED_KINDS) -> Attachment:
    """A dropped item as text: a file:// URL or a plain local path. Raises AttachmentRefused."""
    text = text.strip()
    match = _SCHEME.match(text)
    if match is None:
        return from_path(text, kinds)
    scheme = match.group(1).lower()
    if scheme in ("http", "https", "ftp"):
        advice = "Download the file first, then attach the copy on this computer."
        raise AttachmentRefused(_short(text), "it is a web address", advice)
    if scheme == "data":
        problem = "it is embedded data (a data: URL), not a file"
        raise AttachmentRefused("dropped data", problem, "Save it as a file first.")
    if scheme != "file":
        raise AttachmentRefused(_short(text), f"{scheme}: addresses are not files on this computer")
    parts = urlsplit(text)
    if parts.netloc.lower() not in _LOCAL_HOSTS:
        raise AttachmentRefused(
            _short(text),
            f"it is on another computer ({parts.netloc})",
            "Copy the file to this computer first.",
        )
    return from_path(unquote(parts.path), kinds)


def from_path(path: str | Path, kinds: Sequence[str] = SUPPORTED_KINDS) -> Attachment:
    """Accept a local regular file of one of `kinds`; raises AttachmentRefused with the reason.

    Only `os.stat` and `os.access` touch the file system: the file itself is never opened here.
    """
    raw = str(path)
    if not raw.strip():
        raise AttachmentRefused("an empty path", "there is no file name")
    if "\x00" in raw:
        raise AttachmentRefused(_short(raw.replace("\x00", "")), "the name contains a null character")
    if raw.startswith(("\\\\", "//")) and not raw.startswith("///"):
        # UNC (\\server\share) and its slash form: a network share may hang or ask for credentials.
        advice = "Copy the file to this computer first."
        raise AttachmentRefused(_short(raw), "it is on a network share", advice)
    if _URL_IN_PATH.match(raw):
        return from_uri(raw, kinds)
    file = os.path.abspath(os.path.expanduser(raw))
    shown = file
    try:
        info = os.stat(file)  # follows symlinks: what matters is what the link points at
    except FileNotFoundError:
        raise AttachmentRefused(shown, "the file does not exist", "Check the file name and folder.") from None
    except PermissionError:
        raise AttachmentRefused(shown, "permission to read it was denied", "Check its permissions.") from None
    except OSError as error:
        raise AttachmentRefused(shown, f"it cannot be read ({error.strerror or error})") from None
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise AttachmentRefused(shown, "it is a folder", "Attach the files inside it instead.")
    if stat.S_ISFIFO(mode):
        raise AttachmentRefused(shown, "it is a pipe (FIFO), not a regular file")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise AttachmentRefused(shown, "it is a device, not a regular file")
    if not stat.S_ISREG(mode):
        raise AttachmentRefused(shown, "it is not a regular file")
    kind = _kind_of(Path(file), shown, kinds)
    if info.st_size == 0:
        raise AttachmentRefused(shown, "the file is empty (0 bytes)", "Export or download it again.")
    if not os.access(file, os.R_OK):
        raise AttachmentRefused(shown, "permission to read it was denied", "Check its permissions.")
    return Attachment(kind, file, Path(file).name, info.st_size)


def _kind_of(file: Path, shown: str, kinds: Sequence[str]) -> AttachmentKind:
    suffix = file.suffix.lower()
    kind = EXTENSIONS.get(suffix)
    accepted = ", ".join(ext.lstrip(".") for ext in extensions_for(kinds))
    if kind is None:
        what = f"{suffix} files are" if suffix else "files without an extension are"
        raise AttachmentRefused(shown, f"{what} not supported", f"Attach one of: {accepted}.")
    if kind not in kinds:
        raise AttachmentRefused(
            shown, f"{KIND_NAMES.get(kind, kind)}s are not supported yet", f"Attach one of: {accepted}."
        )
    return kind


def describe_size(size: int) -> str:
    """'840 KB', '12.3 MB': what a chip shows next to the name."""
    if size < 1000 * 1000:
        return f"{max(1, round(size / 1000))} KB"
    if size < 1000**3:
        return f"{size / 1000**2:.1f} MB"
    return f"{size / 1000**3:.1f} GB"


def _short(text: str, limit: int = 80) -> str:
    """URLs can be enormous (data: URLs hold the whole file): keep messages readable."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
