"""``nightscan-edge review``: work with the review queues the web UI's Review page shows (docs/review.md).

``review suggest RUN RECORDINGS`` queues the windows the run's model is least sure of."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from nightscan_edge.atomic import write_json_atomic
from nightscan_edge.commands import Subparsers
from nightscan_edge.errors import UserError
from nightscan_edge.predict.suggest import UNCERTAINTIES
from nightscan_edge.review.suggest import SuggestReport, suggest_into_queue

DEFAULT_DATA_DIR = Path(".nightscan/web")  # the web server's default --data-dir, where its queues live


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("review", help="review queues: queue the windows a model is least sure of")
    actions = parser.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    suggest = actions.add_parser(
        "suggest",
        help="queue the N windows of RECORDINGS the run's model is least sure of, spread over the recordings",
        description="Scores every window of the recordings with the run's model, ranks them by uncertainty "
        "(margin: top probability minus the second) and queues the least sure, at most twice each recording's fair "
        "share and never overlapping, into a review queue the web UI's Review page shows.",
    )
    suggest.add_argument("run", help="run folder (or its best.ckpt) whose model picks the windows")
    suggest.add_argument("recordings", help="folder of unlabelled recordings (photos for a photo run)")
    suggest.add_argument("--n", type=int, default=50, help="windows to queue (default 50)")
    suggest.add_argument("--queue", help="review queue to add to (default: suggest-<run id>, made for the run)")
    suggest.add_argument(
        "--by", choices=UNCERTAINTIES, default="margin", help="uncertainty to rank by (default margin; see docs)"
    )
    suggest.add_argument(
        "--per-recording", type=int, help="most windows from one recording (default: twice its fair share)"
    )
    suggest.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("NIGHTSCAN_DATA_DIR") or DEFAULT_DATA_DIR),
        help="the web server's data dir holding the queues (default: $NIGHTSCAN_DATA_DIR or .nightscan/web)",
    )
    suggest.add_argument("--result", type=Path, help="also write what was queued as JSON here (the web UI's job)")
    parser.set_defaults(handler=run)


def describe(report: SuggestReport) -> list[str]:
    """The lines printed after a suggestion: what was queued, from how much, by which rule."""
    picks = report.suggestion.picks
    lines = [
        f"queued {report.added} window(s) of {len({p.recording for p in picks})} recording(s) into review queue "
        f"{report.queue} ({report.already_queued} already there); scored {report.suggestion.windows} window(s) of "
        f"{report.suggestion.recordings} recording(s)",
        f"rule: {report.suggestion.rule}",
    ]
    if picks:
        labels = Counter(p.label for p in picks)
        lines.append(
            f"uncertainty {picks[0].uncertainty:.3f} (least sure) to {picks[-1].uncertainty:.3f}; proposed labels: "
            + ", ".join(f"{label} {count}" for label, count in labels.most_common())
        )
    if report.suggestion.skipped:
        skipped = report.suggestion.skipped
        lines.append(f"skipped {len(skipped)} unreadable file(s); first: {skipped[0]}")
    return lines


def run(args: argparse.Namespace) -> int:
    if args.review_command != "suggest":
        raise UserError(f"unknown review action {args.review_command!r}")
    report = suggest_into_queue(
        args.data_dir, args.run, args.recordings, args.n, args.queue, args.by, args.per_recording
    )
    lines = describe(report)
    if args.result:
        write_json_atomic(
            args.result,
            {
                "queue": report.queue,
                "added": report.added,
                "already_queued": report.already_queued,
                "recordings": report.suggestion.recordings,
                "windows": report.suggestion.windows,
                "skipped": report.suggestion.skipped,
                "rule": report.suggestion.rule,
                "summary": lines,
            },
        )
    print("\n".join(lines), file=sys.stderr)
    return 0
