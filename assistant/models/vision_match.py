"""Does this projector belong to this language model, and which llama-cpp-python handler runs them.

The evidence `assistant.models.vision_pairing` weighs: model facts from a GGUF header, name matching (after
quantisation suffixes and filler words are dropped), metadata that rules a pair out, and the chat
handler by name. Pure Python: no llama_cpp, no Qt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from assistant.models.gguf import GGUFHeader
from assistant.models.projector import ARCH_PROJECTORS, PROJECTOR_ARCHS, ProjectorFacts

# Quantisation suffixes (Q4_K_M, IQ4_XS, F16, BF16, UD-Q4_K_XL...) at the end of a file stem.
_QUANT_TAIL = re.compile(
    r"(?:[-_. ](?:ud[-_])?(?:i?q\d(?:_[a-z0-9]+)*|tq\d_\d|b?f16|fp16|f32|fp32|mxfp4|[0-9]+bit))+$")
# Words that say what kind of file it is, not which model it belongs to.
_FILLER = {"mmproj", "model", "ggml", "gguf", "text", "vision", "projector", "proj", "clip", "encoder",
           "llm", "language", "mm", "image", "img", "the"}
_TOKEN = re.compile(r"[a-z0-9]+")

# Evidence weights; see _evidence().
EXACT_NAME, PARTIAL_NAME, NEUTRAL_NAME, OTHER_NAME = 3, 2, 1, 0


@dataclass(frozen=True)
class ModelFacts:
    """A language model's header, boiled down to what pairing needs."""

    path: Path
    architecture: str | None
    embedding_length: int | None
    name: str | None
    basename: str | None
    size_label: str | None
    has_chat_template: bool
    template_takes_images: bool = False  # its template has image slots (gemma3, SmolVLM, Qwen2-VL...)
    template_is_chatml: bool = False


def model_facts(header: GGUFHeader) -> ModelFacts:
    arch = header.get("general.architecture")
    arch = arch if isinstance(arch, str) else None
    width = header.get(f"{arch}.embedding_length") if arch else None

    def text(key: str) -> str | None:
        value = header.get(key)
        return value if isinstance(value, str) and value.strip() else None

    template = text("tokenizer.chat_template") or ""
    return ModelFacts(
        path=header.path, architecture=arch,
        embedding_length=width if isinstance(width, int) and not isinstance(width, bool) else None,
        name=text("general.name"), basename=text("general.basename"), size_label=text("general.size_label"),
        has_chat_template=bool(template), template_takes_images="image" in template.lower(),
        template_is_chatml="<|im_start|>" in template)


# --- names -------------------------------------------------------------------------------------------

def name_tokens(stem: str) -> tuple[str, ...]:
    """The words of a file stem that identify a model: ``mmproj-Qwen2-VL-2B-Instruct-f16`` ->
    ('qwen2', 'vl', '2b', 'instruct')."""
    stem = stem.lower()
    if stem.endswith(".gguf"):
        stem = stem[:-5]
    previous = None
    while previous != stem:  # "…-mmproj-f16" drops f16, then mmproj is filler
        previous = stem
        stem = _QUANT_TAIL.sub("", stem)
        words = _TOKEN.findall(stem)
        while words and words[-1] in _FILLER:
            words.pop()
        stem = "-".join(words)
    return tuple(w for w in _TOKEN.findall(stem) if w not in _FILLER)


def _contains(big: tuple[str, ...], small: tuple[str, ...]) -> bool:
    n = len(small)
    return any(big[i:i + n] == small for i in range(len(big) - n + 1))


def name_match(model_stem: str, projector_stem: str) -> int:
    """EXACT_NAME, PARTIAL_NAME (one name inside the other, e.g. an "abliterated" fine-tune of the
    same base), NEUTRAL_NAME (either name says nothing) or OTHER_NAME (they name different models)."""
    a, b = name_tokens(model_stem), name_tokens(projector_stem)
    if not a or not b:
        return NEUTRAL_NAME
    if a == b:
        return EXACT_NAME
    if (len(b) >= 2 and _contains(a, b)) or (len(a) >= 2 and _contains(b, a)):
        return PARTIAL_NAME
    return OTHER_NAME


def _meta_name_match(model: ModelFacts, proj: ProjectorFacts) -> bool:
    """New converters write the language model's general.name into its projector."""
    if model.name and proj.name and name_tokens(model.name) == name_tokens(proj.name):
        return bool(name_tokens(model.name))
    return bool(model.basename and proj.basename and model.size_label and proj.size_label
                and model.basename.lower() == proj.basename.lower()
                and model.size_label.lower() == proj.size_label.lower())


# --- compatibility -----------------------------------------------------------------------------------

def incompatibility(model: ModelFacts, proj: ProjectorFacts) -> str | None:
    """Why metadata rules this pair out, or None when nothing does."""
    if proj.output_dim and model.embedding_length and proj.output_dim != model.embedding_length:
        return (f"{proj.path.name} produces embeddings of size {proj.output_dim}, but "
                f"{model.path.name} expects {model.embedding_length}: they belong to different models")
    arch = model.architecture or ""
    if arch in ARCH_PROJECTORS and proj.projector_type not in ARCH_PROJECTORS[arch]:
        return (f"{model.path.name} is a {arch} model and needs a {arch} projector, but "
                f"{proj.path.name} is a {proj.projector_type} projector")
    if proj.projector_type in PROJECTOR_ARCHS and arch not in PROJECTOR_ARCHS[proj.projector_type]:
        wanted = " or ".join(sorted(PROJECTOR_ARCHS[proj.projector_type]))
        return (f"{proj.path.name} is a projector for {wanted} models, but {model.path.name} is a "
                f"{arch or 'unknown'} model")
    return None


def looks_like_vision(model: ModelFacts) -> bool:
    """Only for wording: a model that surely wants a projector gets a louder "missing" message."""
    words = set(name_tokens(model.path.stem)) | set(name_tokens(model.name or ""))
    return (model.architecture in ARCH_PROJECTORS and model.architecture != "gemma3") or bool(
        words & {"vl", "llava", "vlm", "moondream", "minicpmv", "nanollava", "smolvlm", "pixtral"})


# --- handler choice ----------------------------------------------------------------------------------

def choose_handler(model: ModelFacts, proj: ProjectorFacts) -> tuple[str, str]:
    """(class name in llama_cpp.llama_chat_format, why). The handler only decides the prompt
    format; llama.cpp's mtmd adds each projector's own image markers itself."""
    # Raw names, not name_tokens(): "vision" is filler for pairing but part of "llama-3-vision-alpha".
    words = " ".join(_TOKEN.findall(f"{model.path.stem} {model.name or ''} {proj.path.stem}".lower()))
    compact = words.replace(" ", "")
    ptype = proj.projector_type
    if "moondream" in compact:
        return "MoondreamChatHandler", "the name says moondream"
    if "nanollava" in compact:
        return "NanoLlavaChatHandler", "the name says nanoLLaVA"
    if "llama3visionalpha" in compact:
        return "Llama3VisionAlphaChatHandler", "the name says llama-3-vision-alpha"
    if ptype == "resampler" or "minicpm" in compact:
        return "MiniCPMv26ChatHandler", "a MiniCPM-V resampler projector"
    if ptype in ("qwen2vl_merger", "qwen2.5vl_merger") or model.architecture == "qwen2vl":
        return "Qwen25VLChatHandler", "a Qwen2/2.5-VL model (ChatML with image slots)"
    if "obsidian" in compact:
        return "ObsidianChatHandler", "the name says obsidian"
    if "llava" in compact and (re.search(r"\b(v?1 6|next)\b", words) or proj.grid_pinpoints):
        return "Llava16ChatHandler", "LLaVA 1.6 (image tiling in the projector's metadata or name)"
    if "llava" in compact or "bakllava" in compact:
        return "Llava15ChatHandler", "the name says LLaVA"
    if model.template_takes_images:
        return ("MTMDChatHandler", f"no dedicated handler for this {ptype} projector with a "
                f"{model.architecture or 'unknown'} model: the model's own chat template is used")
    # A text-only template would print the list of message parts verbatim: use a fixed format.
    if model.template_is_chatml:
        return "Qwen25VLChatHandler", "the model's chat template is ChatML without image slots"
    return ("Llava15ChatHandler", "the model's chat template has no image slots (or it has none): "
            "the LLaVA 1.5 USER/ASSISTANT format is used")
