"""Images as grounding: the prompt block, the job's image step (alone and beside recordings), the kept
copy by hash, the store round trip, and the engine-side step's errors and Cancel.

The job runs against scripted engine events (exact and instant); the real engine process reads real
images in tests/engines/test_ocr.py, tests/cli/test_ask_image.py and tests/ui/test_window_images.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from scripted_engine import make_job

from assistant.chat.grounding_job import EarlyPerception
from assistant.history.store import Store
from assistant.host.client import Handler, Ticket
from assistant.host.messages import (
    Done,
    Event,
    Failed,
    ImagePerceived,
    PerceiveRequest,
    Progress,
    Token,
    Transcript,
    result_of,
)
from assistant.host.perception import Perception
from assistant.images import kept
from assistant.images.safe_image import decode_image
from assistant.prompt import audio_question as aq
from assistant.prompt import image_question as iq
from assistant.prompt.attachments import Attachment
from assistant.prompt.grounding import Grounding, default_question, grounded_question, image_hashes
from assistant.protocols import GenerationStats, Segment

SHOT = Attachment("image", "/pictures/error.png", "error.png", 2000)
PHOTO = Attachment("image", "/pictures/receipt.jpg", "receipt.jpg", 9000)
CLIP = Attachment("audio", "/recordings/park.wav", "park.wav", 1000)
SHA = "ab" * 32
OCR_TEXT = "Windows Explorer\nError 0x80070005: Access is denied\nOK"


# ---- rendering -------------------------------------------------------------------------------------


def test_the_text_read_from_an_image_is_delimited_and_the_file_name_stays_out_of_the_prompt() -> None:
    image = Grounding("image", "error.png", OCR_TEXT, image=SHA)
    prompt = grounded_question([image], "What error is this?")
    assert prompt == (
        "Text read from the image (OCR, in reading order):\n<<<\n"
        f"{OCR_TEXT}\n>>>\n\n{iq.IMAGE_INSTRUCTION}\nQuestion: What error is this?"
    )
    # The user still sees which file it was; the model never gets the name to read meaning into.
    assert image.heading() == "Text read from the image error.png" and image.shown_text() == OCR_TEXT


def test_labels_go_with_the_text_and_unlikely_ones_are_left_out() -> None:
    labels = (("screenshot", 0.72), ("dialog box", 0.11), ("cat", 0.01))
    image = Grounding("image", "error.png", "", labels=labels)
    block = grounded_question([image], "What is it?")
    assert f"<<<\n{iq.NO_TEXT}\n>>>" in block  # no text found: said so, not an empty block
    assert ("What the image looks like to CLIP (zero-shot labels, most likely first): screenshot (72%), "
            "dialog box (11%)\n") in block
    assert "cat" not in block
    assert image.shown_text() == f"{iq.NO_TEXT}\n\nLooks like: screenshot (72%), dialog box (11%)"


def test_default_questions_for_images() -> None:
    assert default_question([SHOT]) == iq.DEFAULT_QUESTION
    assert default_question([SHOT, PHOTO]) == "Describe these images."
    assert default_question([SHOT, CLIP]) == "Summarise these attachments."


def test_each_image_attachment_finds_its_kept_copy_in_the_groundings() -> None:
    groundings = [
        Grounding("transcript", "park.wav", "[00:00] hi"),
        Grounding("image", "error.png", "", image=SHA),
        Grounding("image", "receipt.jpg", "", image="cd" * 32),
    ]
    assert image_hashes([SHOT, CLIP, PHOTO], groundings) == [SHA, "", "cd" * 32]
    assert image_hashes([SHOT], []) == [""]  # stored before images were kept: no thumbnail, no error


# ---- the job ---------------------------------------------------------------------------------------


def done(request_id: int, status: str = "complete") -> Done:
    return Done(request_id, status, GenerationStats())  # type: ignore[arg-type]


def image_found(text: str = OCR_TEXT, sha: str = SHA, **extra: Any) -> ImagePerceived:
    return ImagePerceived(sha, "PNG", 560, 200, text, (), **extra)


def perceived(request_id: int, text: str = OCR_TEXT, sha: str = SHA, **extra: Any) -> Done:
    """The end of a PerceiveRequest: Done with what the engine found in the image."""
    return Done(request_id, "complete", GenerationStats(), result=image_found(text, sha, **extra))


def test_an_image_is_read_in_the_engine_then_asked_about() -> None:
    job, client = make_job([SHOT], "What error code is shown?")
    first = job.start()
    assert first.message == "Reading error.png" and first.attachment == 0 and not first.finished
    assert [(kind, request.path, request.threads) for kind, request in client.requests] == [
        ("perceive", SHOT.path, 1)]
    update = job.handle(Progress(1, "perceive", 1, 3, "Reading the text in error.png"))
    assert update is not None and update.message == "Reading the text in error.png" and update.total == 0
    final = job.handle(perceived(1, labels=(("screenshot", 0.8),)))
    assert final is not None and final.finished and final.error is None and final.result is not None
    (image,) = final.result.groundings
    assert image == Grounding("image", "error.png", OCR_TEXT, labels=(("screenshot", 0.8),), image=SHA)
    assert final.result.prompt == grounded_question([image], "What error code is shown?")
    assert final.result.question == "What error code is shown?"


def test_image_recording_and_text_make_one_question_in_the_order_attached() -> None:
    job, client = make_job([CLIP, SHOT], "Does the recording explain the error?")
    job.start()
    job.handle(Transcript(1, Segment(0.0, 3.0, " Access was denied because of permissions.")))
    second = job.handle(done(1))
    assert second is not None and second.message == "Reading error.png" and second.attachment == 1
    final = job.handle(perceived(2))
    assert final is not None and final.result is not None
    assert [(g.kind, g.source) for g in final.result.groundings] == [("transcript", "park.wav"),
                                                                      ("image", "error.png")]
    prompt = final.result.prompt
    assert prompt.index("Transcript of park.wav:") < prompt.index("Text read from the image (OCR")
    assert prompt.endswith("the material above.\nQuestion: Does the recording explain the error?")
    assert [kind for kind, _ in client.requests] == ["transcribe", "perceive"]


def test_a_long_recording_beside_an_image_is_summarised_in_what_the_image_leaves() -> None:
    job, client = make_job([SHOT, CLIP], "What about the pond?", context_size=1024, max_answer_tokens=128)
    job.start()
    job.handle(perceived(1))
    lines = [f"Sentence number {i} says the pond by the park has ducks and geese." for i in range(80)]
    for index, line in enumerate(lines):
        job.handle(Transcript(2, Segment(4.0 * index, 4.0 * index + 3, line)))
    update = job.handle(done(2))
    assert update is not None and update.message.startswith("Summarising part 1/")
    while not update.finished:
        request_id = len(client.requests)
        job.handle(Token(request_id, "Ducks and geese."))
        update = job.handle(done(request_id))
    result = update.result
    assert result is not None
    assert [(g.kind, g.sent) for g in result.groundings] == [("image", True), ("transcript", False),
                                                             ("summary", True)]
    assert OCR_TEXT in result.prompt and aq.fits(result.prompt, aq.prompt_budget(1024, 128, ""))


def test_unusable_images_end_with_the_engines_message_and_nothing_to_send() -> None:
    job, _ = make_job([SHOT], "What?")
    job.start()
    message = f"Cannot use image {SHOT.path}: the file is cut short (truncated). Save it again."
    failed = job.handle(Failed(1, message))
    assert failed is not None and failed.finished and failed.error == message and failed.result is None

    job, _ = make_job([SHOT], "What?", context_size=512, max_answer_tokens=128)
    job.start()
    too_long = job.handle(perceived(1, text="word " * 2000))
    assert too_long is not None and too_long.error is not None and "too long" in too_long.error

    job, client = make_job([SHOT, PHOTO], "What?")
    job.start()
    assert job.cancel() and client.cancelled == [1]
    cancelled = job.handle(perceived(1))  # read just before the engine saw Cancel: the photo is not started
    assert cancelled is not None and cancelled.cancelled and len(client.requests) == 1


# ---- the kept copy ---------------------------------------------------------------------------------


def _png(size: tuple[int, int] = (640, 400), color: str = "navy") -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_is_kept_once_by_its_hash_with_a_thumbnail(tmp_path: Path) -> None:
    decoded = decode_image(_png(), name="shot.png")
    first = kept.keep(decoded, tmp_path)
    assert first.path == tmp_path / "images" / decoded.sha256[:2] / f"{decoded.sha256}.png"
    assert Image.open(first.path).size == (640, 400)
    assert max(Image.open(first.thumbnail).size) == kept.THUMBNAIL_SIDE
    stamp = first.path.stat().st_mtime_ns
    again = kept.keep(decoded, tmp_path)  # shared twice: stored once
    assert again == first and first.path.stat().st_mtime_ns == stamp
    assert kept.kept_path(decoded.sha256, tmp_path) == first.path
    assert kept.thumbnail_path(decoded.sha256, tmp_path) == first.thumbnail
    # A hash read back from a (hand-edited) history never becomes a path outside the library.
    assert kept.kept_path("../../etc/passwd", tmp_path) is None and kept.thumbnail_path("", tmp_path) is None
    assert not list((tmp_path / "images").rglob(".incoming-*"))


def test_a_photo_is_kept_as_jpeg(tmp_path: Path) -> None:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "orange").save(buffer, "JPEG")
    result = kept.keep(decode_image(buffer.getvalue()), tmp_path)
    assert result.path.suffix == ".jpg" and Image.open(result.path).format == "JPEG"


# ---- the store --------------------------------------------------------------------------------------


def test_labels_and_the_image_hash_survive_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "history.sqlite3")
    try:
        conversation = store.create_conversation("Error")
        image = Grounding("image", "error.png", OCR_TEXT, labels=(("screenshot", 0.72),), image=SHA)
        store.add_message(conversation, "user", "What?", prompt="…", attachments=[SHOT], groundings=[image])
        (question,) = store.messages(conversation)
        assert question.groundings == (image,) and question.attachments == (SHOT,)
    finally:
        store.close()


# ---- the engine-side step -------------------------------------------------------------------------


def run_perception(path: Path, data_dir: Path, cancel_after: int | None = None) -> list[Event]:
    """Perception as the engine process runs it, minus the pipe; Cancel arrives at check `cancel_after`."""
    sent: list[Event] = []
    checks = []

    def check_cancel(request_id: int) -> bool:
        checks.append(request_id)
        return cancel_after is not None and len(checks) >= cancel_after

    Perception(sent.append, check_cancel).perceive(PerceiveRequest(str(path), str(data_dir), 1, request_id=7))
    return sent


def test_a_bad_image_fails_with_its_message_and_nothing_is_kept(tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("Shopping list: milk, bread\n" * 20)
    events = run_perception(bad, tmp_path / "data")
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.request_id == 7
    assert failed.message.startswith(f"Cannot use image {bad}: it is a text file")
    assert not (tmp_path / "data" / "images").exists()


def test_cancel_between_steps_stops_before_reading_and_keeps_the_copy(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(_png())
    events = run_perception(shot, tmp_path / "data", cancel_after=1)
    assert isinstance(events[-1], Done) and events[-1].status == "stopped"
    assert not any(result_of(event, ImagePerceived) for event in events)
    assert len(list((tmp_path / "data" / "images").rglob("*.png"))) == 2  # the copy and its thumbnail


def test_an_image_perceived_before_send_is_used_without_asking_again() -> None:
    early = {0: EarlyPerception(found=image_found())}
    job, client = make_job([SHOT], "What error?", perceived=early)
    final = job.start()
    assert final.finished and final.result is not None and client.requests == []
    (image,) = final.result.groundings
    assert image == Grounding("image", "error.png", OCR_TEXT, image=SHA)


def reading_in_flight() -> tuple[dict[int, EarlyPerception], list[Handler]]:
    """An early read of SHOT whose result is known but whose Done the job has not seen: the window's
    AttachmentQuestions hands its remaining events to whoever `follow`s it."""
    followers: list[Handler] = []
    early = EarlyPerception(Ticket(7, None), found=image_found(), follow=followers.append)  # type: ignore[arg-type]
    return {1: early}, followers


@pytest.mark.parametrize("early_ends_first", [False, True])
def test_a_reading_in_flight_is_waited_for_and_an_early_failure_is_the_error(early_ends_first: bool) -> None:
    early, followers = reading_in_flight()
    job, client = make_job([PHOTO, SHOT], "", perceived=early)
    job.start()
    assert len(followers) == 1  # followed at once: none of its events may be missed meanwhile
    photo_read = perceived(1, text="TOTAL 12.50", sha="cd" * 32)
    if early_ends_first:  # the early read ends while the photo is still being read: kept for later
        followers[0](done(7))
        final = job.handle(photo_read)
    else:
        waiting = job.handle(photo_read)
        assert waiting is not None and not waiting.finished and job.waiting
        followers[0](done(7))
        final = job.updates[-1]
    assert final is not None and final.result is not None
    assert [g.text for g in final.result.groundings] == ["TOTAL 12.50", OCR_TEXT]
    assert [(kind, request.path) for kind, request in client.requests] == [("perceive", PHOTO.path)]


def test_an_early_failure_is_the_error() -> None:
    unreadable = EarlyPerception(error="Cannot use image x: the file is cut short.")
    failed, client = make_job([SHOT], "", perceived={0: unreadable})
    update = failed.start()
    assert update.finished and update.error == "Cannot use image x: the file is cut short."
    assert client.requests == []
