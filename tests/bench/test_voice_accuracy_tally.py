"""`bench voice --accuracy` calls a loss a loss only where it is a decoding difference, not a random draw."""

from __future__ import annotations

from assistant.bench.voice_accuracy import WAYS, Heard, Tally

REFERENCE = "the dog next door barked all night"
WRONG = "the dog next door marked all height"


def tally(*clips: dict[str, Heard]) -> Tally:
    result = Tally()
    for heard in clips:
        result.add(REFERENCE, heard, dict.fromkeys(heard, 0.1))
    return result


def every_way(text: str, sampled: bool = False) -> dict[str, Heard]:
    return {way: Heard(text, sampled) for way in WAYS}


def test_an_app_way_that_loses_on_a_beam_decoded_clip_is_a_loss() -> None:
    lost = every_way(REFERENCE) | {"push-to-talk": Heard(WRONG, False)}
    result = tally(every_way(REFERENCE, sampled=True), lost)
    assert result.verdict(WAYS) == "NO"
    assert result.steady_words == 7 and result.sampled_clips == 1
    assert result.steady_errors == {"raw": 0, "file": 0, "push-to-talk": 2}


def test_a_loss_only_where_a_way_sampled_is_reported_as_draws() -> None:
    drawn = every_way(REFERENCE, sampled=True) | {"file": Heard(WRONG, True)}
    result = tally(every_way(REFERENCE), drawn)
    assert result.verdict(WAYS) == "draws"
    assert result.sampled == {"raw": 1, "file": 1, "push-to-talk": 1}
    assert result.rate("file") > result.rate("raw") and result.steady_rate("file") == 0


def test_the_app_at_or_under_raw_everywhere_is_a_yes() -> None:
    raw_wrong = every_way(REFERENCE) | {"raw": Heard(WRONG, False)}
    assert tally(raw_wrong, every_way(WRONG, sampled=True)).verdict(WAYS) == "yes"
