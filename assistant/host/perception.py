"""Looking at images in the engine process: safe decode, a kept copy, OCR text, the ImageNet
classifier's guesses, CLIP labels.

The request loop in `process.py` hands each PerceiveRequest to `Perception.perceive`, which answers it
with Progress, one ImagePerceived and Done, or with Failed and the image's problem in words (an
`ImageError` says which file, what is wrong and what to do). Cancel is checked between the steps; a
step that will not end (OCR of a huge image) is the client's to kill, as for a chat.

The OCR models load once, on the first image, and stay loaded next to the chat model; so does the
ImageNet classifier (`engines/classifier.py`, ~10 ms a photo; its checkpoint is converted to ONNX the
first time), whose guesses let a photo without text say something even without CLIP. CLIP is used
only when a model was imported (`assistant models import-clip`): without one an image is still read,
it just gets no labels. Importing this module is cheap: onnxruntime, OpenCV and numpy load in `perceive`.

A request may carry the start of the question's prompt (`PerceiveRequest.prefill`): it is evaluated into
the chat model's KV cache on a second thread while the image is read (`host/prefill_beside.py`), and
joined after Done, before the engine takes its next request.

The image's CLIP embedding travels back in ImagePerceived: the image library records it with the
conversation and message that shared the image, and those ids exist only once the question is stored,
in the window's (or `ask`'s) process (`assistant.chat.shared_images`). `embed_text` answers the
library's text search with the same model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.host.messages import (
    ChatRequest,
    Done,
    EmbedTextRequest,
    Event,
    Failed,
    ImagePerceived,
    PerceiveRequest,
    Progress,
    TextEmbedded,
)
from assistant.host.prefill_beside import PrefillBeside
from assistant.images.errors import ImageError
from assistant.protocols import GenerationStats, ModelError, StopCheck

if TYPE_CHECKING:
    from assistant.engines.classifier import ImageNetClassifier
    from assistant.engines.ocr import RapidTextReader
    from assistant.images.kept import KeptImage
    from assistant.images.safe_image import DecodedImage

logger = logging.getLogger(__name__)

STEPS = 3  # open and keep, read text, label
TOP_LABELS = 5
CLASSIFIER_ROLE = "classifier"  # the catalogue's role of the ImageNet classifier
# Evaluates a prefill-only chat request with the loaded chat model (the engine's `prefill_beside`).
Evaluate = Callable[[ChatRequest, StopCheck], int]


class _Cancelled(Exception):
    pass


class Perception:
    """Owns the OCR reader and the CLIP labeller of the engine process (one thread uses them)."""

    def __init__(self, send: Callable[[Event], None], check_cancel: Callable[[int], bool]) -> None:
        self._send = send
        self._check_cancel = check_cancel
        self._reader: RapidTextReader | None = None
        self._clip: dict[Path, tuple[Any, Any]] = {}  # model folder -> (ClipModel, ZeroShotLabeler)
        self._classifier: ImageNetClassifier | None = None
        self._keeper: ThreadPoolExecutor | None = None  # writes kept copies while the text is read

    def perceive(self, request: PerceiveRequest, evaluate: Evaluate | None = None) -> None:
        """Answer `request`; with `evaluate`, its `prefill` is evaluated meanwhile on another thread."""
        beside = None
        if evaluate is not None and request.prefill is not None:
            prefill = request.prefill
            beside = PrefillBeside(lambda should_stop: evaluate(prefill, should_stop))
        cancelled = False

        def check(rid: int) -> bool:  # sticky: a Cancel is read off the pipe once
            nonlocal cancelled
            cancelled = cancelled or self._check_cancel(rid)
            return cancelled

        try:
            self._perceive(request, check)
        finally:
            if beside is not None:
                if cancelled:
                    beside.stop()
                beside.wait(lambda: check(request.request_id))

    def _perceive(self, request: PerceiveRequest, check_cancel: Callable[[int], bool]) -> None:
        rid, name = request.request_id, Path(request.path).name
        started = time.perf_counter()
        between_steps = partial(self._between_steps, check_cancel)
        # Pillow loads here, not when the window process imports this module to start the engine.
        from assistant.images.safe_image import STORAGE_MAX_SIDE, open_image

        keeping: Future[KeptImage | None] | None = None
        try:
            self._progress(rid, 0, f"Opening {name}")
            decoded = open_image(request.path, max_side=STORAGE_MAX_SIDE)
            if request.keep:  # its fsync waited on the disk on the way to the answer (~0.13 s of 0.17)
                keeping = self._keep_beside().submit(self._keep, decoded, Path(request.data_dir))
            between_steps(rid)
            self._progress(rid, 1, f"Reading the text in {name}")
            reader, load_s = self._ocr(request.threads)
            read = reader.read(decoded.image)
            between_steps(rid)
            labels: tuple[tuple[str, float], ...] = ()
            guesses: tuple[tuple[str, float], ...] = ()
            embedding, clip_model, note, guesses_note = None, "", "", ""
            guessed_s = 0.0
            if request.labels:
                self._progress(rid, 2, f"Labelling {name}")
                guessing = time.perf_counter()
                guesses, guesses_note = self._guesses(decoded, Path(request.data_dir), request.threads)
                guessed_s = time.perf_counter() - guessing
                labels, embedding, clip_model, note = self._labels(rid, decoded, Path(request.data_dir), name)
                between_steps(rid)
            kept = keeping.result() if keeping is not None else None
        except _Cancelled:
            _settle(keeping)  # the window may delete the copy once told: it must be there by then
            self._send(Done(rid, "stopped", GenerationStats()))
            return
        except ImageError as error:  # says which file, what is wrong with it and what to do
            _settle(keeping)
            self._send(Failed(rid, str(error), kind="engine"))
            return
        logger.info("Perceived %s: %d lines of text, %d labels", request.path, len(read.lines), len(labels))
        found = ImagePerceived(
            decoded.sha256,
            decoded.format,
            decoded.width,
            decoded.height,
            read.text,
            read.lines,
            labels,
            str(kept.path) if kept is not None else None,
            str(kept.thumbnail) if kept is not None else None,
            read.seconds,
            embedding,
            clip_model,
            frames=decoded.frames,
            read_width=decoded.image.width,
            labels_note=note,
            guesses=guesses,
            guesses_note=guesses_note,
            ocr_confidence=read.confidence,
        )
        stats = GenerationStats(load_s=load_s, total_s=time.perf_counter() - started)
        stats.extra.update(ocr_s=read.seconds, lines=float(len(read.lines)), guesses_s=guessed_s)
        self._send(Done(rid, "complete", stats, result=found))

    # ---- steps -------------------------------------------------------------------------------------

    def embed_text(self, request: EmbedTextRequest) -> None:
        """The CLIP text embedding of a library search; Failed (in words) without a usable model."""
        from assistant.clip.folder import find_model
        from assistant.models.catalog import ModelError

        rid, data_dir = request.request_id, Path(request.data_dir)
        started = time.perf_counter()
        try:
            folder = find_model(request.model, data_dir)
            model, _labeler = self._clip_model(folder, data_dir)
            vector = model.embed_texts([request.text])[0]
        except ModelError as error:  # none installed, or a damaged folder: the message says what to do
            self._send(Failed(rid, str(error), kind="bad_model"))
            return
        self._send(Done(rid, "complete", GenerationStats(total_s=time.perf_counter() - started),
                        result=TextEmbedded(model.fingerprint, vector)))

    def _keep(self, decoded: DecodedImage, data_dir: Path) -> KeptImage | None:
        """The copy that keeps the thumbnail alive; a full disk costs the thumbnail, not the answer."""
        from assistant.images.kept import keep

        try:
            return keep(decoded, data_dir)
        except OSError as error:
            logger.warning("Could not keep a copy of the image in %s: %s", data_dir, error)
            return None

    def _keep_beside(self) -> ThreadPoolExecutor:
        """One thread that writes kept copies (Pillow's encoder and fsync release the GIL)."""
        if self._keeper is None:
            self._keeper = ThreadPoolExecutor(1, thread_name_prefix="keep-image")
        return self._keeper

    def text_reader(self, threads: int = 0) -> RapidTextReader:
        """The OCR reader images use, loaded on first need; the documents' scanned PDF pages share it."""
        return self._ocr(threads)[0]

    def _ocr(self, threads: int) -> tuple[RapidTextReader, float]:
        if self._reader is not None and (threads <= 0 or self._reader.threads == threads):
            return self._reader, 0.0
        from assistant.engines.ocr import OcrOptions, RapidTextReader  # onnxruntime and OpenCV: here only

        self._reader = RapidTextReader.load(OcrOptions(threads=threads))
        return self._reader, self._reader.load_s

    def _guesses(self, decoded: DecodedImage, data_dir: Path, threads: int
                 ) -> tuple[tuple[tuple[str, float], ...], str]:
        """The ImageNet classifier's top guesses, and why there are none when it cannot be used.

        Loaded on the first image (its packages' files verified, the checkpoint converted to ONNX once).
        Guesses only add to what was read, so a missing or broken classifier costs them, not the answer.
        """
        try:
            if self._classifier is None:
                from assistant.engines.classifier import ImageNetClassifier
                from assistant.models.catalog import default_model, ensure_model

                folder = ensure_model(default_model(CLASSIFIER_ROLE), data_dir)
                self._classifier = ImageNetClassifier.load(folder, threads)
            return self._classifier.classify(decoded.image, top_k=TOP_LABELS), ""
        except ModelError as error:  # not installed, damaged: the message says what to do
            logger.warning("No ImageNet guesses: %s", error)
            return (), str(error)
        except Exception as error:
            logger.warning("The ImageNet classifier failed: %s", error, exc_info=True)
            return (), f"the ImageNet classifier failed ({error})"

    def _labels(
        self, rid: int, decoded: DecodedImage, data_dir: Path, name: str
    ) -> tuple[tuple[tuple[str, float], ...], Any, str, str]:
        """Zero-shot labels, the image's CLIP embedding, the model's fingerprint, and why there are no
        labels when a model is installed but unusable.

        From the first installed CLIP model; ((), None, "", "") without one. Labels only add to the OCR
        text, so a broken CLIP model costs the labels (with a note), and the question goes on.
        """
        try:
            from assistant.clip.folder import installed_models
        except ImportError:  # a build without the CLIP package
            return (), None, "", ""
        folders = installed_models(data_dir)
        if not folders:
            return (), None, "", ""
        try:
            model, labeler = self._clip_model(folders[0], data_dir)
            embedding = model.embed_images([decoded.image])
            [best] = labeler.classify(embedding, top_k=TOP_LABELS)
        except Exception as error:
            logger.warning("CLIP labels for %s failed: %s", name, error, exc_info=True)
            return (), None, "", f"the CLIP model in {folders[0]} could not be loaded ({error})"
        labels = tuple((label.label, round(label.probability, 4)) for label in best)
        return labels, embedding[0], model.fingerprint, ""

    def clip_model(self, data_dir: Path, name: str | None = None) -> Any:
        """The CLIP model `name` names, else the first installed (the one images are labelled with);
        ModelError without one. For the library's indexing (`host.indexing`): one model in memory."""
        from assistant.clip.folder import find_model

        return self._clip_model(find_model(name, data_dir), data_dir)[0]

    def _clip_model(self, folder: Path, data_dir: Path) -> tuple[Any, Any]:
        if folder not in self._clip:
            from assistant.clip.labels import ZeroShotLabeler
            from assistant.engines.clip_onnx import ClipModel

            model = ClipModel.load(folder)
            labeler = ZeroShotLabeler(model, cache_dir=data_dir / "cache" / "clip-labels")
            self._clip[folder] = (model, labeler)
        return self._clip[folder]

    # ---- helpers -----------------------------------------------------------------------------------

    def _progress(self, rid: int, step: int, message: str) -> None:
        self._send(Progress(rid, "perceive", step, STEPS, message))

    @staticmethod
    def _between_steps(check_cancel: Callable[[int], bool], rid: int) -> None:
        if check_cancel(rid):
            raise _Cancelled()


def _settle(keeping: Future[Any] | None) -> None:
    """Wait for a kept copy being written (its own failure was logged by `_keep`)."""
    if keeping is not None:
        keeping.exception()
