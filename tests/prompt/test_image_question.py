"""What a text-only model is told about a photo: the classifier's labels as guesses with their scores,
never the file's name, and the app's own answer when nothing in the photo was recognised."""

from __future__ import annotations

from assistant.prompt import image_question as iq
from assistant.prompt.grounding import Grounding, grounded_question

CAT = (("a cat having a striped coat", 0.3845), ("Egyptian Mau", 0.3655), ("tabby cat", 0.1691),
       ("lynx", 0.02))
ASTRONAUT = (("football helmet", 0.162), ("bobsleigh", 0.1098), ("go-kart", 0.0643))
SCREEN = (("website", 0.45), ("monitor", 0.2))
LONG_TEXT = "Error 0x80070643: Fatal error during installation.\n" * 4


def test_a_photos_labels_reach_the_model_as_uncertain_guesses_with_their_scores() -> None:
    photo = Grounding("image", "chelsea.png", "", guesses=CAT)
    prompt = grounded_question([photo], "What is in this picture?")
    assert iq.NO_TEXT in prompt
    line = next(row for row in prompt.splitlines() if "guesses" in row)
    assert "uncertain" in line and "not people" in line
    assert line.endswith("a cat having a striped coat (38%), Egyptian Mau (37%), tabby cat (17%)"
                         + iq.GUESSES_OUTRO)
    assert "lynx" not in prompt  # under 5 %: says more about the vocabulary than the photo
    assert prompt.endswith(f"{iq.IMAGE_INSTRUCTION}\nQuestion: What is in this picture?")


def test_the_file_name_is_never_given_to_the_model_as_content() -> None:
    """A cat saved as chelsea.png was answered "Chelsea": the name stays with the user, not the model."""
    image = Grounding("image", "chelsea.png", "", guesses=CAT, image="ab" * 32)
    prompt = grounded_question([image], "What is in this picture?")
    assert "chelsea" not in prompt.lower() and ".png" not in prompt
    assert "chelsea.png" in image.heading()  # the panel still says which file it was
    two = grounded_question([image, Grounding("image", "coffee.png", "", guesses=(("espresso", 0.95),))],
                            "Which one is a drink?")
    assert "chelsea" not in two.lower() and "coffee" not in two.lower()
    assert "Text read from image 1 (OCR" in two and "at what image 2 shows" in two
    assert two.index("striped coat") < two.index("espresso")


def test_guesses_are_left_out_for_text_images_and_when_the_classifier_is_unsure() -> None:
    screenshot = grounded_question([Grounding("image", "shot.png", LONG_TEXT, guesses=SCREEN)], "Why?")
    assert "website" not in screenshot and "guesses" not in screenshot  # the text says what it is
    unsure = Grounding("image", "astronaut.png", "NASA", guesses=ASTRONAUT)
    prompt = grounded_question([unsure], "Who is this?")
    assert "football helmet" not in prompt  # 16 %: stated, a small model repeats it as fact
    assert "Guesses (too unsure to tell the model): football helmet (16%)" in unsure.shown_text()
    told = Grounding("image", "chelsea.png", "", guesses=CAT).shown_text()
    assert told.startswith(iq.NO_TEXT) and "Guesses (told to the model): a cat having" in told


def test_clip_labels_and_classifier_guesses_go_together_each_named() -> None:
    both = grounded_question([Grounding("image", "c.png", "", labels=(("a cat", 0.8),), guesses=CAT)], "?")
    assert "classifier's guesses" in both
    assert "to CLIP (zero-shot labels, most likely first): a cat (80%)" in both
    assert both.index("classifier's guesses") < both.index("CLIP")


def test_what_counts_as_recognised() -> None:
    assert iq.recognised("Menu", (), ())  # any text
    assert iq.recognised("", (), CAT) and iq.recognised("", (("a cat", 0.8),), ASTRONAUT)
    assert not iq.recognised("", (), ASTRONAUT) and not iq.recognised(" \n", (("a dog", 0.2),), ())
    assert not iq.recognised("", (), ())


def test_the_apps_own_answer_says_what_it_could_and_could_not_see_and_offers_the_models() -> None:
    offers = [iq.Offer("gemma-3-4b-it-vision", "describes images", "3.3 GB download"),
              iq.Offer("clip-vit-b-32-openai", "names what an image looks like", "0.6 GB download")]
    reply = iq.cannot_see_reply([ASTRONAUT], clip_labels=False, offers=offers)
    assert reply.startswith("I can't tell what this image shows. I can't see pictures myself")
    assert "found no text" in reply and "football helmet (16%), bobsleigh (11%), go-kart (6%)" in reply
    assert "Models ▸ Manage models ▸ Recommended ▸ Get" in reply
    assert "`assistant models install gemma-3-4b-it-vision`" in reply
    assert "`assistant models install clip-vit-b-32-openai`" in reply
    several = iq.cannot_see_reply([ASTRONAUT, ()], clip_labels=True, offers=offers[:1])
    assert "these images show" in several and "CLIP names what an image looks like" in several
    assert "clip-vit-b-32-openai" not in several
