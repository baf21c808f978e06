"""What to label next: the windows of unlabelled recordings (or the photos) a run's model is least sure of,
kept diverse, for ``review suggest`` to queue for a person.

Least sure by **margin** (the top probability minus the second), by default: a label fixes the choice between the
two classes the model hesitates over, and the margin measures exactly that hesitation. Entropy (``by="entropy"``)
spreads over every class, so with many classes it ranks a window that is vaguely unlike everything (wind, a
recorder's click) above one torn between two species; in uncertainty-sampling studies the two rank alike on few
classes and margin holds up better on many (Settles, *Active Learning Literature Survey*, 2009, section 3.1).

Diverse: the least sure windows of a night cluster in the same few minutes of the same recording (a noisy stretch,
one unfamiliar animal calling for an hour), and 50 windows of one such stretch teach what one would. So picks are
taken in order of uncertainty with two limits: at most ``per_recording`` windows of any recording (default: twice
its fair share, ``ceil(2 n / recordings)``), and no two picks of one recording closer than ``min_gap_s`` (default
one window: picks never overlap). When the limits leave fewer than ``n`` windows (few recordings) the per-recording
cap is lifted for the rest; picks still never overlap.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile

from nightscan_edge.audio.decode import AUDIO_SUFFIXES, AudioDecodeError
from nightscan_edge.errors import UserError
from nightscan_edge.predict.classifier import Classifier, load_server_classifier
from nightscan_edge.predict.inputs import IMAGE_SUFFIXES, InputError, expand_paths
from nightscan_edge.predict.scoring import score_audio, score_image

Uncertainty = Literal["margin", "entropy"]
UNCERTAINTIES: tuple[Uncertainty, ...] = ("margin", "entropy")


class SuggestError(UserError):
    """A suggestion request that cannot be carried out (no recordings, a model of the other modality, n < 1)."""


@dataclass(frozen=True)
class Candidate:
    """A window (``end_s`` None: a whole photo) with the model's top label and how unsure the model is of it."""

    recording: Path
    start_s: float
    end_s: float | None
    label: str
    confidence: float
    uncertainty: float  # higher = less sure: 1 - margin, or the entropy normalised by log(classes)


@dataclass(frozen=True)
class Suggestion:
    picks: list[Candidate]  # least sure first
    recordings: int  # recordings (or photos) scored
    windows: int  # windows scored
    skipped: list[str]  # one line per recording that could not be read
    rule: str  # the uncertainty and diversity rule, as it was applied


def uncertainty(probabilities: np.ndarray, by: Uncertainty = "margin") -> np.ndarray:
    """Per row of ``(N, classes)`` probabilities, in [0, 1], higher = less sure (see the module docstring)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape[-1] < 2:
        return np.zeros(probabilities.shape[0])
    if by == "margin":
        top_two = np.sort(probabilities, axis=-1)[:, -2:]
        return np.asarray(1.0 - (top_two[:, 1] - top_two[:, 0]))
    if by == "entropy":
        p = np.clip(probabilities, 1e-12, 1.0)
        return np.asarray(-(p * np.log(p)).sum(axis=-1) / math.log(probabilities.shape[-1]))
    raise SuggestError(f"unknown uncertainty {by!r}; use one of {', '.join(UNCERTAINTIES)}")


def pick_diverse(
    candidates: Sequence[Candidate], n: int, per_recording: int | None = None, min_gap_s: float | None = None
) -> list[Candidate]:
    """The ``n`` least sure candidates under the diversity limits of the module docstring, least sure first.

    ``min_gap_s`` None: one window (each candidate's own length), so picks of one recording never overlap.
    """
    if n < 1:
        raise SuggestError(f"--n must be at least 1 (got {n}): how many windows to queue for review")
    recordings = {c.recording for c in candidates}
    cap = per_recording or max(1, math.ceil(2 * n / max(1, len(recordings))))
    order = sorted(candidates, key=lambda c: (-c.uncertainty, str(c.recording), c.start_s))
    picked: list[Candidate] = []
    taken: dict[Path, list[Candidate]] = defaultdict(list)

    def clear_of(candidate: Candidate) -> bool:
        for other in taken[candidate.recording]:
            if candidate.end_s is None or other.end_s is None:
                return False  # a whole photo: once
            gap = min_gap_s if min_gap_s is not None else candidate.end_s - candidate.start_s
            if abs(candidate.start_s - other.start_s) < gap - 1e-9:
                return False
        return True

    chosen: set[int] = set()
    for capped in (True, False):
        for index, candidate in enumerate(order):
            if len(picked) == n:
                break
            if index in chosen or (capped and len(taken[candidate.recording]) >= cap):
                continue
            if clear_of(candidate):
                chosen.add(index)
                picked.append(candidate)
                taken[candidate.recording].append(candidate)
    return sorted(picked, key=lambda c: -c.uncertainty)


def media_files(folder: Path, kind: str) -> list[Path]:
    """The recordings (``kind`` audio) or photos under ``folder``; refuses an empty folder or one of the other
    modality in one line that says what to pass."""
    if not folder.exists():
        raise SuggestError(f"{folder} not found; give the folder of unlabelled recordings to pick windows from")
    files = expand_paths([folder], kind)
    if files:
        return files
    other_kind = "image" if kind == "audio" else "audio"
    others = expand_paths([folder], other_kind)
    wanted = "recordings" if kind == "audio" else "photos"
    if others:
        found = "photo(s)" if other_kind == "image" else "recording(s)"
        raise SuggestError(
            f"{folder} holds {len(others)} {found} and no {wanted}, but the run classifies {wanted}; give a "
            f"run trained on {found.replace('(s)', 's')} or a folder of {wanted}"
        )
    suffixes = ", ".join(AUDIO_SUFFIXES if kind == "audio" else IMAGE_SUFFIXES)
    raise SuggestError(f"{folder} holds no {wanted} ({suffixes}); give the folder of unlabelled {wanted}")


def score_candidates(
    classifier: Classifier,
    files: Sequence[Path],
    by: Uncertainty = "margin",
    hop_seconds: float | None = None,
    exclude: Collection[tuple[str, float]] = (),
    on_file: Callable[[Path], None] | None = None,
) -> tuple[list[Candidate], int, list[str]]:
    """Every window of ``files`` (every photo) as a candidate, minus ``exclude`` ((recording, start_s) already
    queued); also the windows scored and one line per file that could not be read (the others still count)."""
    candidates: list[Candidate] = []
    skipped: list[str] = []
    scored = 0
    excluded = {(str(path), round(start, 3)) for path, start in exclude}
    for path in files:
        if on_file is not None:
            on_file(path)
        resolved = path.resolve()
        try:
            if classifier.input_kind == "audio":
                # a recording shorter than a window is padded; its window ends where the recording does
                length_s = soundfile.info(str(path)).duration
                windows = [
                    (w.start_s, min(w.end_s, length_s), w.probabilities)
                    for w in score_audio(classifier, path, hop_seconds)
                ]
            else:
                windows = [(0.0, None, score_image(classifier, path))]
        except (InputError, AudioDecodeError, OSError, RuntimeError) as error:  # libsndfile: RuntimeError
            skipped.append(f"{path}: {error}")
            continue
        if not windows:
            continue
        scored += len(windows)
        probabilities = np.stack([row for _, _, row in windows])
        unsure = uncertainty(probabilities, by)
        for (start_s, end_s, row), value in zip(windows, unsure, strict=True):
            if (str(resolved), round(start_s, 3)) in excluded:
                continue
            top = int(np.argmax(row))
            candidates.append(
                Candidate(resolved, float(start_s), end_s, classifier.labels[top], float(row[top]), float(value))
            )
    return candidates, scored, skipped


def suggest(
    run: str | Path,
    recordings: str | Path,
    n: int = 50,
    by: Uncertainty = "margin",
    per_recording: int | None = None,
    min_gap_s: float | None = None,
    hop_seconds: float | None = None,
    exclude: Collection[tuple[str, float]] = (),
    on_file: Callable[[Path], None] | None = None,
) -> Suggestion:
    """The ``n`` windows of ``recordings`` the run's model is least sure of, kept diverse (module docstring)."""
    if n < 1:
        raise SuggestError(f"--n must be at least 1 (got {n}): how many windows to queue for review")
    if by not in UNCERTAINTIES:
        raise SuggestError(f"unknown uncertainty {by!r}; use one of {', '.join(UNCERTAINTIES)}")
    classifier = load_server_classifier(run, use_teacher=False)
    files = media_files(Path(recordings), classifier.input_kind)
    candidates, scored, skipped = score_candidates(classifier, files, by, hop_seconds, exclude, on_file)
    if not candidates and skipped:
        raise SuggestError(f"no recording under {recordings} could be read; the first: {skipped[0]}")
    picks = pick_diverse(candidates, n, per_recording, min_gap_s)
    cap = per_recording or max(1, math.ceil(2 * n / max(1, len({c.recording for c in candidates}))))
    rule = f"least sure by {by}; at most {cap} per recording (lifted only when too few recordings), " + (
        f"picks of one recording >= {min_gap_s:g} s apart" if min_gap_s is not None else "picks never overlap"
    )
    return Suggestion(picks, len(files), scored, skipped, rule)
