"""How much a figure measured on few examples can be trusted, said in numbers a field biologist can act on.

"100 % accuracy" on 8 validation clips is compatible with a true accuracy of 68 %; a temperature fitted
on 11 windows is noise. Every report that shows an accuracy or a calibration from a small set carries a
warning built here, with the 95 % Wilson interval, so the UI and the CLI say the same thing.
"""

from __future__ import annotations

import math

# Below this many examples an accuracy (or any proportion) is shown with a warning and its interval.
MIN_EVALUATION_EXAMPLES = 30
# Temperature scaling needs enough validation windows that the fitted T describes the model, not the
# particular windows; with fewer, export keeps T (1.0 or the checkpoint's) and says why.
MIN_TEMPERATURE_WINDOWS = 50
# A recommended confidence threshold rests on the windows above it; with fewer it is not recommended.
MIN_THRESHOLD_WINDOWS = 50


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion (sensible at 0 %, 100 % and small ``total``)."""
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_warning(accuracy: float, total: int, what: str = "validation clips") -> str | None:
    """A one-line warning when ``accuracy`` rests on fewer than ``MIN_EVALUATION_EXAMPLES`` examples."""
    if total >= MIN_EVALUATION_EXAMPLES:
        return None
    low, high = wilson_interval(round(accuracy * total), total)
    return (
        f"accuracy {accuracy:.0%} rests on only {total} {what}: the true accuracy could be anywhere from "
        f"{low:.0%} to {high:.0%} (95 % interval); use at least {MIN_EVALUATION_EXAMPLES} before trusting it"
    )
