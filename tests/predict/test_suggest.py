"""What to label next (``predict.suggest``): uncertainty, the diversity limits, and picks from a real run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nightscan_edge.predict.suggest import Candidate, SuggestError, pick_diverse, suggest, uncertainty
from tests.conftest import write_tone
from tests.predict.conftest import TINY_AUDIO_SPEC


def candidate(recording: str, start_s: float, unsure: float, length_s: float = 1.0) -> Candidate:
    return Candidate(Path(recording), start_s, start_s + length_s, "owl", 1 - unsure, unsure)


def test_margin_and_entropy_rank_the_hesitation() -> None:
    probabilities = np.array([[0.98, 0.01, 0.01], [0.5, 0.49, 0.01], [0.34, 0.33, 0.33], [0.6, 0.2, 0.2]])
    margin = uncertainty(probabilities, "margin")
    entropy = uncertainty(probabilities, "entropy")
    np.testing.assert_allclose(margin, [0.03, 0.99, 0.99, 0.6], atol=1e-9)
    assert entropy[2] == pytest.approx(1.0, abs=1e-3) and entropy.argmin() == 0
    # torn between two classes: margin ranks it with the uniform row, entropy well below it
    assert margin[1] == pytest.approx(margin[2]) and entropy[1] < entropy[2] - 0.3
    with pytest.raises(SuggestError, match="unknown uncertainty 'variance'"):
        uncertainty(probabilities, "variance")  # type: ignore[arg-type]


def test_picks_are_capped_per_recording_and_never_overlap() -> None:
    # one noisy recording holds the 20 least sure windows (50 % overlap); four others hold less unsure ones
    noisy = [candidate("noisy.wav", 0.5 * i, 0.99 - 0.001 * i) for i in range(20)]
    others = [candidate(f"r{r}.wav", 0.5 * i, 0.5 + 0.01 * i + 0.001 * r) for r in range(4) for i in range(8)]
    picks = pick_diverse(noisy + others, 10)
    by_recording = {p.recording.name: [q.start_s for q in picks if q.recording == p.recording] for p in picks}
    assert len(picks) == 10 and len(by_recording["noisy.wav"]) == 4  # cap: ceil(2 * 10 / 5 recordings)
    assert by_recording["noisy.wav"] == [0.0, 1.0, 2.0, 3.0]  # the least sure that do not overlap
    assert len(by_recording) == 5
    assert [p.uncertainty for p in picks] == sorted((p.uncertainty for p in picks), reverse=True)
    for starts in by_recording.values():
        assert all(abs(a - b) >= 1.0 for i, a in enumerate(starts) for b in starts[i + 1 :])


def test_the_cap_is_lifted_when_recordings_are_too_few() -> None:
    one = [candidate("only.wav", 0.5 * i, 0.5 + 0.001 * i) for i in range(40)]  # 20 s, 1 s windows
    picks = pick_diverse(one, 30, per_recording=3)
    assert len(picks) == 20  # every non-overlapping window there is, though the cap said 3
    assert len({p.start_s for p in picks}) == 20
    assert len(pick_diverse(one, 5, min_gap_s=4.0)) == 5
    assert sorted(p.start_s for p in pick_diverse(one, 50, min_gap_s=4.0)) == [
        3.5,
        7.5,
        11.5,
        15.5,
        19.5,
    ]  # least sure last


def test_suggest_scores_the_runs_windows_and_excludes_queued_ones(tiny_audio_run, tmp_path) -> None:
    rate = TINY_AUDIO_SPEC.sample_rate
    for index, frequency in enumerate((400, 900, 1500)):
        write_tone(tmp_path / "night" / f"n{index}.wav", frequency, 3.0, rate)
    result = suggest(tiny_audio_run, tmp_path / "night", n=6)
    assert (result.recordings, len(result.picks)) == (3, 6)
    assert result.windows == 3 * 6  # ~1 s windows, 50 % overlap, the last aligned to the end of 3 s
    per_recording = [sum(p.recording.name == f"n{i}.wav" for p in result.picks) for i in range(3)]
    assert max(per_recording) <= 4 and sum(count > 0 for count in per_recording) >= 2  # cap ceil(2 * 6 / 3)
    assert all(p.label in ("owl", "fox", "bat") and 0 <= p.start_s < p.end_s <= 3.0 + 1e-6 for p in result.picks)
    assert "margin" in result.rule and "at most 4 per recording" in result.rule
    queued = [(str(p.recording), p.start_s) for p in result.picks]
    again = suggest(tiny_audio_run, tmp_path / "night", n=6, exclude=queued)
    assert not {(str(p.recording), p.start_s) for p in again.picks} & set(queued)


def test_bad_requests_are_one_line(tiny_audio_run, tiny_photo_run, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SuggestError, match=r"holds no recordings \(\.wav"):
        suggest(tiny_audio_run, tmp_path / "empty")
    with pytest.raises(SuggestError, match="--n must be at least 1"):
        suggest(tiny_audio_run, tmp_path / "empty", n=0)
    write_tone(tmp_path / "night" / "a.wav", 500, 2.0, TINY_AUDIO_SPEC.sample_rate)
    with pytest.raises(SuggestError, match=r"holds 1 recording\(s\) and no photos, but the run classifies photos"):
        suggest(tiny_photo_run, tmp_path / "night")
    with pytest.raises(SuggestError, match="not found"):
        suggest(tiny_audio_run, tmp_path / "nowhere")


def test_a_photo_run_picks_whole_photos(tiny_photo_run, tmp_path) -> None:
    rng = np.random.default_rng(0)
    for index in range(3):
        (tmp_path / "camera").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "camera" / f"p{index}.png")
    result = suggest(tiny_photo_run, tmp_path / "camera", n=2)
    assert (result.recordings, result.windows, len(result.picks)) == (3, 3, 2)
    assert all(p.end_s is None and p.start_s == 0.0 for p in result.picks)
    assert len({p.recording for p in result.picks}) == 2  # a photo is picked once
