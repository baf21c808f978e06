"""``nightscan-edge data``: generate the synthetic demo set, fetch ESC-50, inspect a data set, pre-label recordings,
convert annotations (Raven, Label Studio) and cut labelled clips from them."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from nightscan_edge.birdnet.prelabel import prelabel
from nightscan_edge.commands import Subparsers
from nightscan_edge.data import DataError, inspect_dataset, write_synthetic_dataset
from nightscan_edge.data.annotations import (
    FORMATS,
    clips_from_annotations,
    read_annotation_csv,
    write_annotation_csv,
)
from nightscan_edge.data.annotations.formats import ImportOptions
from nightscan_edge.data.esc50 import convert_esc50, download_esc50
from nightscan_edge.errors import UserError


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("data", help="demo data, ESC-50 download, data set inspection")
    actions = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    synth = actions.add_parser("synth", help="write a small SYNTHETIC demo set (generated sounds or shapes)")
    synth.add_argument("path")
    synth.add_argument("--kind", choices=("audio", "photo"), default="audio")
    synth.add_argument("--per-class", type=int, default=12)
    synth.add_argument("--seed", type=int, default=0)
    esc50 = actions.add_parser("esc50", help="download ESC-50 (or use a local zip) and write a manifest with folds")
    esc50.add_argument("path")
    esc50.add_argument("--archive", help="local ESC-50 zip (no download)")
    esc50.add_argument("--esc10", action="store_true", help="only the 10-class ESC-10 subset")
    inspect = actions.add_parser("inspect", help="classes, counts and unreadable files of a data set")
    inspect.add_argument("path")
    inspect.add_argument("--json", action="store_true")
    prelabel = actions.add_parser(
        "prelabel",
        help="zero-shot draft labels with BirdNET (birdnet extra; licence CC BY-NC-SA 4.0): CSV + clips per label",
    )
    prelabel.add_argument("recordings", help="a recording or a folder of recordings")
    prelabel.add_argument("--out", required=True, help="draft CSV to write (path,start_s,end_s,label,...,confidence)")
    prelabel.add_argument(
        "--species", nargs="+", metavar="NAME", help="only these BirdNET labels (scientific or common)"
    )
    prelabel.add_argument("--min-confidence", type=float, default=0.5, help="keep windows at or above (default 0.5)")
    prelabel.add_argument(
        "--clips", help="folder-per-label export of kept windows (default: <out>-clips/ beside the CSV)"
    )
    prelabel.add_argument("--threads", type=int, default=1, help="LiteRT CPU threads for BirdNET (default 1)")
    _add_annotation_parsers(actions)
    parser.set_defaults(handler=run)


def _add_annotation_parsers(actions: Subparsers) -> None:
    formats = ", ".join(f"{row.name} ({row.description})" for row in FORMATS.values())
    imports = actions.add_parser(
        "import-annotations", help=f"Raven or Label Studio annotations -> annotation CSV; formats: {formats}"
    )
    imports.add_argument("file", help="a Raven selection table or a Label Studio JSON export")
    imports.add_argument("--format", required=True, choices=sorted(FORMATS))
    imports.add_argument("--out", required=True, help="annotation CSV to write (path,start_s,end_s,label)")
    imports.add_argument("--recording", help="the recording every annotation belongs to (a one-recording file)")
    imports.add_argument("--labels", nargs="+", metavar="LABEL", help="refuse any label not among these")
    imports.add_argument("--label-column", help="raven: the annotation column holding the labels")
    imports.add_argument("--audio-root", help="labelstudio: the folder its local-files storage serves")
    exports = actions.add_parser("export-annotations", help="annotation CSV -> Raven table or Label Studio tasks")
    exports.add_argument("csv", help="annotation CSV (path,start_s,end_s,label), e.g. from `data prelabel`")
    exports.add_argument("--format", required=True, choices=sorted(FORMATS))
    exports.add_argument("--out", required=True, help="file to write")
    exports.add_argument(
        "--audio-root", help="labelstudio: write data.audio as /data/local-files/?d=PATH below this folder"
    )
    clips = actions.add_parser("clips-from-annotations", help="cut one WAV clip per annotation, a folder per label")
    clips.add_argument("csv", help="annotation CSV (path,start_s,end_s,label)")
    clips.add_argument("--out", required=True, help="folder to write OUT/<label>/<recording>_<start>s.wav into")
    clips.add_argument("--labels", nargs="+", metavar="LABEL", help="refuse any label not among these")


def _annotations(args: argparse.Namespace) -> int:
    """import-annotations / export-annotations / clips-from-annotations: read and check all, then write once."""
    if args.data_command == "import-annotations":
        options = ImportOptions(
            Path(args.recording) if args.recording else None,
            tuple(args.labels) if args.labels else None,
            args.label_column,
            Path(args.audio_root) if args.audio_root else None,
        )
        annotations = FORMATS[args.format].read(Path(args.file), options)
        write_annotation_csv(args.out, annotations)
        print(f"{len(annotations)} annotation(s) of {len({a.path for a in annotations})} recording(s) -> {args.out}")
        return 0
    annotations = read_annotation_csv(args.csv, args.labels if args.data_command != "export-annotations" else None)
    if args.data_command == "export-annotations":
        options = ImportOptions(audio_root=Path(args.audio_root) if args.audio_root else None)
        FORMATS[args.format].write(Path(args.out), annotations, options)
        print(f"{len(annotations)} annotation(s) -> {args.out} ({FORMATS[args.format].description})")
        return 0
    print("\n".join(clips_from_annotations(annotations, args.out).summary_lines()))
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if args.data_command == "synth":
            try:
                root = write_synthetic_dataset(args.path, kind=args.kind, per_class=args.per_class, seed=args.seed)
            except ValueError as error:
                raise UserError(str(error)) from None
            summary = inspect_dataset(root)
            print(
                f"wrote SYNTHETIC {args.kind} demo set to {root}: {summary['total']} files, "
                f"classes {', '.join(summary['classes'])}"
            )
            return 0
        if args.data_command == "prelabel":
            report = prelabel(
                args.recordings, args.out, args.species, args.min_confidence, args.clips, threads=args.threads
            )
            print("\n".join(report.summary_lines()))
            return 0
        if args.data_command in ("import-annotations", "export-annotations", "clips-from-annotations"):
            return _annotations(args)
        if args.data_command == "esc50":
            out = Path(args.path)
            if args.archive:
                manifest = convert_esc50(args.archive, out, args.esc10)
            else:
                with tempfile.TemporaryDirectory() as scratch:
                    manifest = convert_esc50(download_esc50(Path(scratch) / "esc50.zip"), out, args.esc10)
            summary = inspect_dataset(manifest)
            print(f"ESC-50: {summary['total']} clips, {len(summary['classes'])} classes -> {manifest}")
            return 0
        summary = inspect_dataset(args.path)
    except DataError as error:
        raise UserError(str(error)) from None
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{summary['kind']} data set {summary['root']}: {summary['total']} readable files, "
        f"{len(summary['classes'])} classes"
    )
    for label, count in summary["counts"].items():
        print(f"  {label:24s} {count}")
    if summary["bad_files"]:
        print(f"{len(summary['bad_files'])} unreadable file(s):")
        for bad in summary["bad_files"]:
            print(f"  {bad['path']}: {bad['reason']}")
    return 0
