"""User settings and the folders the app keeps its data in.

Settings are a flat dataclass saved as JSON. Saving is atomic (temp file, fsync, os.replace, fsync of the
folder) so a crash, a power cut or a full disk never leaves a half-written settings file behind. A file
damaged anyway (by hand, by another program) is copied aside and reported, never silently reset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

APP_NAME = "assistant"

AUTOMATIC_MODEL = ""
# Settings files written before the model and sampling became automatic hold these old defaults, which
# were never the user's choice (see load_settings).
_OLD_DEFAULT_TEMPERATURE = 0.7
_OLD_DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant running entirely on the user's own computer. "
    "Answer clearly and concisely. Use Markdown for lists and code."
)


@dataclass
class Settings:
    # A catalogue name or a path to a .gguf; "" is automatic: the largest bundled model that suits this
    # computer (models.fit.automatic_chat_model), until the user or the first-run panel picks one.
    model: str = AUTOMATIC_MODEL
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    # Sampling: None is automatic, chosen per model and question (chat/sampling.py); a value here wins.
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    seed: int | None = None  # None: a fresh seed for every answer
    context_size: int = 4096
    max_answer_tokens: int = 1024
    threads: int = 0  # 0: automatic
    gpu_layers: int = -1  # -1: automatic (all when the build supports GPU offload)
    theme: str = "light"  # "light" | "dark"
    speech_model: str = ""  # catalogue name or a faster-whisper model folder; "": the catalogue's default
    push_to_talk_key: str = "F8"  # a QKeySequence string; held down to talk (no clash with typing)
    send_on_release: bool = True  # send the transcript as soon as the key or button is released
    speech_language: str = ""  # "": detect; else an ISO 639-1 code such as "de"
    translate_to_english: bool = False  # Whisper's own translation of the speech into English
    answer_in_spoken_language: bool = False
    read_aloud: bool = False  # speak each answer sentence by sentence as it streams (Piper voice)
    global_push_to_talk: bool = False  # the push-to-talk key works in other apps too (X11 only)
    keep_in_tray: bool = False  # closing the window hides it in the tray instead of quitting
    capture_key: str = "Ctrl+Alt+A"  # a QKeySequence string: capture a region of the screen and ask
    global_capture_key: bool = False  # the capture key works in other apps too (X11 only)
    # An OpenAI-compatible server (llama.cpp server, vLLM) answers when model == remote_config.REMOTE_MODEL.
    remote_url: str = ""  # e.g. http://192.168.1.20:8080; nothing connects while model is local
    remote_model: str = ""  # the server's model id; "" lets the server pick
    # Kept in settings.json, which save_settings writes with 0600 permissions; repr=False keeps it out
    # of any log line that prints the settings.
    remote_api_key: str = field(default="", repr=False)
    first_run_done: bool = False  # the hardware and models panel was shown once (Help menu reopens it)
    hub_endpoint: str = ""  # where Models ▸ Download fetches from; "": https://huggingface.co
    use_documents: bool = False  # answer from the user's documents library ("Use my documents")

    def validated(self) -> Settings:
        """A copy with every field clamped to a range the engine accepts."""
        return dataclasses.replace(
            self,
            model=str(self.model or "").strip(),
            temperature=_clamped(self.temperature, 0.0, 2.0),
            top_k=None if self.top_k is None else min(max(int(self.top_k), 0), 1000),
            top_p=_clamped(self.top_p, 0.0, 1.0),
            min_p=_clamped(self.min_p, 0.0, 1.0),
            repeat_penalty=_clamped(self.repeat_penalty, 0.5, 2.0),
            seed=None if self.seed is None else min(max(int(self.seed), 0), 2**31 - 2),
            context_size=min(max(int(self.context_size), 512), 131072),
            max_answer_tokens=min(max(int(self.max_answer_tokens), 16), 8192),
            threads=min(max(int(self.threads), 0), 256),
            gpu_layers=max(int(self.gpu_layers), -1),
            theme=self.theme if self.theme in ("light", "dark") else "light",
            speech_model=str(self.speech_model).strip(),
            push_to_talk_key=str(self.push_to_talk_key).strip() or "F8",
            send_on_release=bool(self.send_on_release),
            speech_language=_language_code(self.speech_language),
            translate_to_english=bool(self.translate_to_english),
            answer_in_spoken_language=bool(self.answer_in_spoken_language),
            read_aloud=bool(self.read_aloud),
            global_push_to_talk=bool(self.global_push_to_talk),
            keep_in_tray=bool(self.keep_in_tray),
            capture_key=str(self.capture_key).strip() or "Ctrl+Alt+A",
            global_capture_key=bool(self.global_capture_key),
            remote_url=str(self.remote_url or "").strip(),
            remote_model=str(self.remote_model or "").strip(),
            remote_api_key=str(self.remote_api_key or "").strip(),
            first_run_done=bool(self.first_run_done),
            hub_endpoint=str(self.hub_endpoint or "").strip(),
            use_documents=bool(self.use_documents),
        )


def _clamped(value: float | None, low: float, high: float) -> float | None:
    return None if value is None else min(max(float(value), low), high)


def _language_code(value: object) -> str:
    """A plausible ISO 639 code in lower case, or "" (detect) for anything else."""
    code = str(value or "").strip().lower()
    return code if code.isalpha() and 2 <= len(code) <= 3 else ""


def data_dir() -> Path:
    """History, assembled models and user models live here (ASSISTANT_DATA_DIR overrides, for tests)."""
    override = os.environ.get("ASSISTANT_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs  # imported lazily: it is only needed when no override is set

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    override = os.environ.get("ASSISTANT_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / "settings.json"


def history_path() -> Path:
    return data_dir() / "history.sqlite3"


def user_models_dir(folder: Path | None = None) -> Path:
    """Where the user's own model files go: `models/` in the data folder (this user's, or `folder`)."""
    return (folder if folder is not None else data_dir()) / "models"


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    # What was wrong with the file, in words for the window's status bar (the CLI logs it); None: fine.
    problem: str | None = None
    backup: Path | None = None  # the copy of the damaged file, kept beside it


def load_settings(path: Path | None = None) -> Settings:
    """Read settings; unknown keys are ignored, a damaged file is copied aside (see `read_settings`)."""
    return read_settings(path).settings


def read_settings(path: Path | None = None) -> LoadedSettings:
    """Read settings, never failing: a missing file gives the defaults; a damaged one (not JSON, not an
    object, a value of the wrong type) is copied aside as settings.json.damaged-DIGEST and the values
    that still make sense are kept, the rest fall back to their defaults, with a message saying so. The
    damaged file itself is left as it is until the user changes a setting (no silent reset)."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadedSettings(Settings())
    except (OSError, ValueError) as error:  # unreadable (permissions), or not UTF-8
        return _damaged(path, f"it could not be read ({error})", {})
    try:
        raw = json.loads(text)
    except ValueError as error:
        return _damaged(path, f"it is not valid JSON ({error})", {})
    if not isinstance(raw, dict):
        return _damaged(path, "it does not hold a JSON object", {})
    known = {f.name for f in dataclasses.fields(Settings)}
    if "seed" not in raw:  # written before sampling and the model became automatic
        raw = _without_old_defaults(raw)
    values = {k: v for k, v in raw.items() if k in known}
    try:
        return LoadedSettings(Settings(**values).validated())
    except (TypeError, ValueError, OverflowError):
        pass
    kept: dict[str, object] = {}
    for name, value in values.items():  # keep every value that is fine on its own
        try:
            Settings(**{name: value}).validated()
        except (TypeError, ValueError, OverflowError):
            continue
        kept[name] = value
    dropped = sorted(set(values) - set(kept))
    return _damaged(path, f"these values are not valid: {', '.join(dropped)}", kept)


def _damaged(path: Path, why: str, kept: dict[str, object]) -> LoadedSettings:
    # The file exists, so the first-run panel was shown before: do not show it again for a damaged file.
    settings = dataclasses.replace(Settings(**kept).validated(), first_run_done=True)
    copy = _backup(path)
    saved = (f"A copy of the file is kept as {copy.name}." if copy is not None
             else "No copy of the file could be made.")
    rest = "The other settings were kept; these use their defaults." if kept else "Defaults are used."
    problem = (f"Your settings file {path} is damaged: {why}. {rest} {saved} The file is rewritten only "
               "when you change a setting.")
    logger.warning("%s", problem)
    return LoadedSettings(settings, problem, copy)


def _backup(path: Path) -> Path | None:
    """Copy the damaged file beside itself, once per distinct content."""
    try:
        data = path.read_bytes()
        copy = path.with_name(f"{path.name}.damaged-{hashlib.sha256(data).hexdigest()[:12]}")
        if not copy.exists():
            write_atomically_bytes(copy, data)
        return copy
    except OSError as error:
        logger.error("Could not copy the damaged settings file %s: %s", path, error)
        return None


def _without_old_defaults(raw: dict) -> dict:
    """Older versions saved every field, their defaults included, so a file that holds exactly the old
    default model or temperature says nothing about what the user wanted: those become automatic."""
    old = {"model": _OLD_DEFAULT_MODEL, "temperature": _OLD_DEFAULT_TEMPERATURE}
    return {k: v for k, v in raw.items() if not (k in old and v == old[k])}


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write settings atomically; raises OSError (e.g. disk full) with the old file untouched."""
    path = path or settings_path()
    write_atomically(path, json.dumps(dataclasses.asdict(settings), indent=2) + "\n")


def write_atomically(path: Path, text: str) -> None:
    """Temp file in the same folder + fsync + os.replace: readers see the old or the new file, whole."""
    write_atomically_bytes(path, text.encode("utf-8"))


def write_atomically_bytes(path: Path, data: bytes) -> None:
    """`write_atomically` for bytes; the folder is fsynced too, so the rename survives a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with 0600 permissions, kept by os.replace: settings.json may hold the
    # remote server's API key, so only its owner may read it.
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not possible on this platform (Windows): the rename is as durable as it gets
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
