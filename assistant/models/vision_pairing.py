"""Find the projector (mmproj) that belongs to a vision-capable chat GGUF, or say why there is none.

A vision model in llama.cpp is two files: the language model and a projector that turns image patches
into its embeddings. Users download both and drop them into a folder; nothing in either file names the
other. So pairing weighs evidence and refuses to guess:

- a projector is recognised by metadata (``assistant.models.projector``), not by "mmproj" in its name;
- names are compared after dropping quantisation suffixes and filler words ("mmproj", "model",
  "text"...): ``Qwen2-VL-2B-Instruct-Q4_K_M`` and ``mmproj-Qwen2-VL-2B-Instruct-f16`` match, and
  ``llava-v1.5-7b-Q4_K_M`` and ``llava-v1.5-7b-mmproj-f16`` match;
- a projector with a generic name (``mmproj-model-f16.gguf``) pairs only when it sits next to the
  model and that model is the only language model in its folder, or when metadata confirms it;
- metadata can also rule a pair out: the projector's output size must equal the model's
  embedding_length (llama.cpp refuses the pair otherwise), and some architectures need one projector
  family (a qwen2vl model needs a qwen2vl projector);
- two candidates that fit equally well are reported as ambiguous, with both names.

The evidence itself (names, metadata, the llama-cpp-python handler by name) is in
``assistant.models.vision_match``; the handler is resolved in ``assistant.engines.llama_vision``. Pure
Python, Qt-free.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.models.catalog import gguf_files
from assistant.models.gguf import GGUFError, GGUFHeader, read_header
from assistant.models.projector import (
    ADVICE,
    PROJECTOR_ARCHS,
    ProjectorFacts,
    is_projector,
    projector_facts,
)
from assistant.models.vision_match import (
    EXACT_NAME,
    NEUTRAL_NAME,
    OTHER_NAME,
    PARTIAL_NAME,
    ModelFacts,
    _meta_name_match,
    choose_handler,
    incompatibility,
    looks_like_vision,
    model_facts,
    name_match,
)

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class VisionPair:
    """A language model and its projector, and how llama-cpp-python should prompt them."""

    model: Path
    mmproj: Path
    handler: str  # a class name in llama_cpp.llama_chat_format
    handler_reason: str
    reason: str  # why these two belong together, for the models list and the log
    projector_type: str
    embedding_length: int | None


@dataclass(frozen=True)
class Unpaired:
    """No usable projector for ``model``; ``reason`` is a sentence for the user."""

    model: Path
    reason: str
    candidates: tuple[Path, ...] = ()


@dataclass
class VisionScan:
    """Everything vision in some folders: what `assistant models` shows."""

    pairs: list[VisionPair] = field(default_factory=list)
    # Projector files no model uses, and why (damaged, ambiguous, incompatible, alone).
    unpaired_projectors: list[tuple[Path, str]] = field(default_factory=list)
    # Language models that look like vision models but have no projector.
    unpaired_models: list[Unpaired] = field(default_factory=list)


# --- reading files -----------------------------------------------------------------------------------

class _Headers:
    """One header read per file per scan (a 150k-token vocabulary costs ~30 ms to skip over)."""

    def __init__(self) -> None:
        self._cache: dict[Path, GGUFHeader | GGUFError] = {}

    def get(self, path: Path) -> GGUFHeader | GGUFError:
        if path not in self._cache:
            try:
                # check_data only compares tensor offsets with the file size: a truncated
                # download is caught here at no cost.
                self._cache[path] = read_header(path)
            except GGUFError as error:
                self._cache[path] = error
        return self._cache[path]


# --- pairing -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Candidate:
    path: Path
    facts: ProjectorFacts | None  # None: the file is not even a readable GGUF
    name: int  # EXACT_NAME ... OTHER_NAME
    evidence: int
    reason: str
    problem: str | None = None  # why it cannot be used (damaged, unsafe for llama.cpp)


def _evidence(model: ModelFacts, proj: ProjectorFacts, alone_in_folder: bool) -> _Candidate | str:
    """Scores one projector for one model, or says why it does not fit."""
    name = name_match(model.path.stem, proj.path.stem)
    meta_name = _meta_name_match(model, proj)
    dims_ok = bool(proj.output_dim and proj.output_dim == model.embedding_length)
    arch_ok = proj.projector_type in PROJECTOR_ARCHS and model.architecture in PROJECTOR_ARCHS[
        proj.projector_type]
    same_folder = proj.path.parent == model.path.parent
    if name == OTHER_NAME and not meta_name:
        return f"{proj.path.name} is named for a different model"
    if name == NEUTRAL_NAME and not meta_name and not dims_ok and not (same_folder and alone_in_folder):
        return (f"{proj.path.name} has a name that does not say which model it belongs to, it is not "
                f"alone with {model.path.name} in a folder, and its metadata cannot confirm the pair")
    reasons = []
    if name == EXACT_NAME:
        reasons.append("same name")
    elif name == PARTIAL_NAME:
        reasons.append("matching names")
    elif same_folder and alone_in_folder:
        reasons.append("the only model and projector in their folder")
    if meta_name:
        reasons.append("same model name in the metadata")
    if dims_ok:
        reasons.append(f"embedding size {model.embedding_length} agrees")
    if arch_ok:
        reasons.append(f"a {proj.projector_type} projector for a {model.architecture} model")
    # Names first (they are what users see), then metadata that confirms, then being neighbours.
    evidence = name + 3 * meta_name + 2 * dims_ok + arch_ok + same_folder
    return _Candidate(proj.path, proj, name, evidence, ", ".join(reasons), proj.problem)


def _pair(model: ModelFacts, chosen: _Candidate) -> VisionPair:
    assert chosen.facts is not None
    handler, why = choose_handler(model, chosen.facts)
    return VisionPair(model=model.path, mmproj=chosen.path, handler=handler, handler_reason=why,
                      reason=chosen.reason, projector_type=chosen.facts.projector_type,
                      embedding_length=model.embedding_length)


def _decide(model: ModelFacts, projectors: Sequence[ProjectorFacts], broken: Sequence[tuple[Path, str]],
            models_in_folder: int) -> VisionPair | Unpaired:
    alone = models_in_folder == 1
    sound: list[_Candidate] = []
    faulty: list[_Candidate] = []
    rejected: list[str] = []
    for proj in projectors:
        why_not = incompatibility(model, proj)
        scored = _evidence(model, proj, alone) if why_not is None else why_not
        if isinstance(scored, str):
            rejected.append(scored)
        else:
            (faulty if scored.problem else sound).append(scored)
    for path, message in broken:
        name = name_match(model.path.stem, path.stem)
        if name in (EXACT_NAME, PARTIAL_NAME) or (path.parent == model.path.parent and alone):
            faulty.append(_Candidate(path, None, name, 0, "", message))
        else:
            rejected.append(f"{path.name} is damaged: {message}")
    # A damaged file named at least as well as the best sound one is most likely *the* projector:
    # say so rather than quietly pairing a weaker candidate.
    best_name = max((c.name for c in sound), default=-1)
    claims = sorted((c for c in faulty if c.name >= best_name), key=lambda c: -c.name)
    if claims:
        c = claims[0]
        return Unpaired(model.path, f"the projector for {model.path.name}, {c.path.name}, cannot be "
                        f"used: {c.problem}. {ADVICE}", (c.path,))
    if not sound:
        return _no_projector(model, rejected)
    sound.sort(key=lambda c: -c.evidence)
    ties = [c for c in sound if c.evidence == sound[0].evidence]
    if len(ties) > 1:
        names = " and ".join(c.path.name for c in ties)
        return Unpaired(model.path, f"{model.path.name} has {len(ties)} projectors that fit equally well "
                        f"({names}); keep only one of them next to the model, or name the one to use",
                        tuple(c.path for c in ties))
    return _pair(model, sound[0])


def _no_projector(model: ModelFacts, rejected: Sequence[str]) -> Unpaired:
    where = f"next to {model.path.name}"
    if rejected:
        shown = "; ".join(rejected[:3]) + (f"; and {len(rejected) - 3} more" if len(rejected) > 3 else "")
        return Unpaired(model.path, f"no projector fits {model.path.name}: {shown}")
    if looks_like_vision(model):
        return Unpaired(model.path, f"{model.path.name} looks like a vision model, but no projector "
                        f"(mmproj) file was found {where}. Put its mmproj-*.gguf file in the same folder.")
    return Unpaired(model.path, f"{model.path.name} has no projector (mmproj) {where}; it answers text only")


@dataclass
class _Folders:
    """Models and projectors found in some folders, headers read once."""

    models: list[ModelFacts] = field(default_factory=list)
    projectors: list[ProjectorFacts] = field(default_factory=list)
    broken_projectors: list[tuple[Path, str]] = field(default_factory=list)

    def models_in(self, folder: Path) -> int:
        return sum(1 for m in self.models if m.path.parent == folder)


def _read_folders(folders: Iterable[Path], headers: _Headers) -> _Folders:
    found = _Folders()
    seen: set[Path] = set()
    for folder in folders:
        for path in gguf_files(folder):
            real = path.resolve()
            if real in seen:
                continue  # the same folder listed twice, or a link to a file already listed
            seen.add(real)
            header = headers.get(path)
            if isinstance(header, GGUFError):
                if "mmproj" in path.name.lower():  # the name is all there is to go on
                    found.broken_projectors.append((path, str(header)))
                continue
            if is_projector(header):
                found.projectors.append(projector_facts(header))
            else:
                found.models.append(model_facts(header))
    return found


def _search_folders(model_path: Path, models_dir: Path | None) -> list[Path]:
    folders = [model_path.parent]
    if models_dir is not None and models_dir.resolve() != model_path.parent.resolve():
        folders.append(models_dir)
    return folders


def find_vision_pair(model_path: Path | str, models_dir: Path | str | None = None,
                     mmproj: Path | str | None = None) -> VisionPair | Unpaired:
    """The projector for ``model_path``, searched next to it and in ``models_dir``; or, with
    ``mmproj``, a check that the file the user named fits."""
    model_path = Path(model_path)
    headers = _Headers()
    header = headers.get(model_path)
    if isinstance(header, GGUFError):
        return Unpaired(model_path, str(header))
    if is_projector(header):
        return Unpaired(model_path, f"{model_path.name} is a vision projector (mmproj), not a chat model; "
                        "choose the language model it belongs to")
    model = model_facts(header)
    if mmproj is not None:
        return _check_chosen(model, Path(mmproj), headers)
    found = _read_folders(_search_folders(model_path, Path(models_dir) if models_dir else None), headers)
    return _decide(model, found.projectors, found.broken_projectors, found.models_in(model_path.parent))


def chat_model_pair(model: str, data_dir: Path | str) -> VisionPair | None:
    """The projector pair of the chat model the settings name, or None for a text-only model.

    Only a user's own GGUF can be a vision model (the catalogue's are text-only); its projector is
    searched next to it and in the user models folder. The engine decides by this whether to load the
    model with its projector, and the window and `ask` whether to send it the images themselves.
    """
    from assistant.models import catalog  # catalog lists model folders; pairing itself does not need it

    data_dir = Path(data_dir)
    try:
        entry = catalog.find_model(model, data_dir)
        if entry.source != "user-file" or entry.path is None or entry.role != "chat":
            return None
        found = find_vision_pair(entry.path, catalog.user_models_dir(data_dir))
    except (catalog.ModelError, OSError) as error:
        log.debug("no vision pair for %s: %s", model, error)
        return None
    if isinstance(found, Unpaired):
        log.debug("%s is loaded text-only: %s", model, found.reason)
        return None
    return found


def _check_chosen(model: ModelFacts, path: Path, headers: _Headers) -> VisionPair | Unpaired:
    header = headers.get(path)
    if isinstance(header, GGUFError):
        return Unpaired(model.path, f"{header}. {ADVICE}", (path,))
    if not is_projector(header):
        arch = header.get("general.architecture")
        return Unpaired(model.path, f"{path.name} is not a vision projector (mmproj): its metadata says "
                        f"it is a {arch or 'unknown'} language model", (path,))
    proj = projector_facts(header)
    problem = proj.problem or incompatibility(model, proj)
    if problem:
        return Unpaired(model.path, f"{path.name} cannot be used with {model.path.name}: {problem}", (path,))
    return _pair(model, _Candidate(path, proj, EXACT_NAME, 0, "chosen by you"))


def scan_vision(folders: Sequence[Path]) -> VisionScan:
    """Every pair, lonely projector and projector-less vision model in ``folders`` (not recursive,
    like the chat model list)."""
    headers = _Headers()
    found = _read_folders(folders, headers)
    scan = VisionScan()
    used: set[Path] = set()
    why_not: dict[Path, str] = {}
    for model in found.models:
        result = _decide(model, found.projectors, found.broken_projectors, found.models_in(model.path.parent))
        if isinstance(result, VisionPair):
            scan.pairs.append(result)
            used.add(result.mmproj)
            continue
        for path in result.candidates:
            why_not.setdefault(path, result.reason)
        if looks_like_vision(model) or result.candidates:
            scan.unpaired_models.append(result)
    for path, message in found.broken_projectors:
        scan.unpaired_projectors.append((path, why_not.get(path, f"damaged: {message}")))
    for proj in found.projectors:
        if proj.path in used:
            continue
        if proj.problem:
            reason = f"cannot be used: {proj.problem}"
        elif proj.path in why_not:
            reason = why_not[proj.path]
        elif not found.models:
            reason = "no language model in the same folders to pair it with"
        else:
            size = f", output size {proj.output_dim}" if proj.output_dim else ""
            reason = (f"no model here matches this {proj.projector_type} projector{size} (by name, or by "
                      "metadata when the name is generic)")
        scan.unpaired_projectors.append((proj.path, reason))
    return scan


def format_vision(scan: VisionScan) -> str:
    """The vision section of `assistant models`; empty when there is nothing vision at all."""
    lines: list[str] = []
    for pair in scan.pairs:
        lines.append(f"  {pair.model.name} + {pair.mmproj.name}: {pair.reason}; "
                     f"{pair.handler} ({pair.handler_reason})")
    for path, reason in scan.unpaired_projectors:
        lines.append(f"  {path.name}: not paired: {reason}")
    for unpaired in scan.unpaired_models:
        if not unpaired.candidates:
            lines.append(f"  {unpaired.model.name}: {unpaired.reason}")
    return "VISION\n" + "\n".join(lines) if lines else ""
