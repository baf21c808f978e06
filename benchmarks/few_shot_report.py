"""The few-shot benchmark's report: the learning curves summarised over seeds, the issue's targets as measured
sentences, and the results document written to ``benchmarks/results/few_shot.json``."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bench_common import LabelledItem, command_line, machine_summary, today
from few_shot_variants import VARIANTS

TITLE = "Few-shot learning curves on animal-sounds: birdnet_head, ultralight from scratch and distilled"


def results_document(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    extras: dict[str, Any],
    split: tuple[list[LabelledItem], list[LabelledItem], list[LabelledItem]],
    previous: dict[str, Any],
) -> dict[str, Any]:
    """What ``few_shot.json`` holds after this invocation. With ``--only PART`` the curves and their provenance
    stay as measured and the part says how it was run (``PART_command``, ``PART_date``)."""
    pool, val, test = split
    summary = summarise(rows)
    schedule = "the preset's schedule" if (args.epochs, args.steps) == (30, 16) else "a short CPU schedule"
    notes = target_notes(summary, rows, extras, schedule)
    if args.only:
        return {
            **previous,
            **extras,
            "notes": notes,
            f"{args.only}_command": command_line(),
            f"{args.only}_date": today(),
        }
    return {
        "title": TITLE,
        "date": today(),
        "machine": machine_summary(args.threads),
        "command": command_line(),
        "setup": (
            f"animal-sounds ({len(pool) + len(val) + len(test)} clips, 7 classes; no recordist groups in its manifest, "
            f"so stratified): fixed test {len(test)} and validation {len(val)} clips; K clips per class drawn from "
            f"the other {len(pool)}. ultralight_audio {args.epochs} epochs x {args.steps} steps of 32 ("
            f"{schedule}); birdnet_head {args.head_epochs} epochs; teacher scores cached every "
            f"{args.grid_seconds:g} s. Test accuracy, checkpoint picked on validation."
        ),
        "figures": [
            {
                "clips/class": row["size"],
                "variant": row["variant"],
                "seeds": row["seeds"],
                "test accuracy": f"{row['accuracy']:.1%}",
                "range": f"{row['accuracy_min']:.1%}-{row['accuracy_max']:.1%}",
                "macro-F1": f"{row['macro_f1']:.3f}",
                "wall s/run": f"{row['seconds']:.0f}",
            }
            for row in summary
        ],
        "notes": notes,
        "runs": rows,
        **extras,
    }


def target_notes(
    summary: list[dict[str, Any]], rows: list[dict[str, Any]], extras: dict[str, Any], schedule: str
) -> list[str]:
    """The issue's targets, each stated as measured, met or not."""
    mean = {(r["size"], r["variant"]): r["accuracy"] for r in summary}
    notes = []

    def check(text: str, value: float | None, met: bool | None) -> None:
        if value is not None:
            notes.append(f"{text}: {'met' if met else 'NOT met'} ({value:+.1f} points).")

    head10, scratch_all = mean.get(("10", "head")), mean.get(("all", "scratch"))
    if head10 is not None and scratch_all is not None:
        check(
            "birdnet_head at 10 clips/class >= ultralight from scratch on all clips",
            100 * (head10 - scratch_all),
            head10 >= scratch_all,
        )
    for size, need in (("10", 15.0), ("all", 2.0)):
        best = max((mean[(size, v)] for v in ("distilled", "distilled+u") if (size, v) in mean), default=None)
        scratch = mean.get((size, "scratch"))
        if best is not None and scratch is not None:
            check(
                f"distilled ultralight (better of with/without --unlabeled) >= {need:g} points above from scratch "
                f"at {size} clips/class (accuracy)",
                100 * (best - scratch),
                100 * (best - scratch) >= need,
            )
    first = next((r for r in rows if r["birdnet_windows_computed"]), None)
    if first is not None:
        notes.append(
            f"Embedding cost: {first['birdnet_windows_computed']} BirdNET windows in {first['birdnet_seconds']:.0f} s "
            f"({1000 * first['birdnet_seconds'] / first['birdnet_windows_computed']:.0f} ms per 3 s window with "
            "decoding, LiteRT 1 thread, on 2 cores shared with ~6 other jobs) in the first run that met new files; "
            "every later run read them from the cache."
        )
    heads = [r for r in rows if r["variant"] == "head" and r.get("train_seconds")]
    if heads:
        notes.append(
            f"Head training on cached embeddings (30 epochs, validation included): "
            f"{min(r['train_seconds'] for r in heads):.0f}-{max(r['train_seconds'] for r in heads):.0f} s per run; "
            "wall s/run also counts decoding the clips at 48 kHz and the final report."
        )
    computed = [r for r in rows if r["variant"] != "scratch" and r.get("reused") is False]
    if computed:
        later = [r["birdnet_windows_computed"] for r in computed[1:]]
        notes.append(
            "BirdNET windows computed per run after the first: "
            + ", ".join(map(str, later))
            + " (embeddings and teacher scores come from the cache once a file has been seen)."
        )
    for key in ("background_site", "background_gaps", "background"):  # real site audio first, synthetic last
        if extras.get(key):
            notes.append(background_note(extras[key]))
    student_seeds = {r["seed"] for r in rows if r["variant"] != "head"}
    if student_seeds:
        notes.append(
            f"Caveats: the ultralight runs use {len(student_seeds)} seed(s) and {schedule}, so their "
            "figures are noisy (one test clip is 0.65 points); distillation without --unlabeled has only the "
            "labelled clips' windows to learn from, and the teacher's gain shows mostly through the unlabelled ones. "
            "Compare macro-F1 too: a gain in accuracy can come from the large classes."
        )
    int8 = extras.get("int8_check")
    if int8:
        gate = int8.get("gate") or {}
        notes.append(
            f"INT8 ONNX export of the distilled student (10 clips/class, --unlabeled): {int8['status']}"
            + (f" by the INT8 gate: {gate['reason']}" if gate.get("reason") else "")
            + (
                f" (the all-INT8 file failed the gate -- {gate['tries'][0]['reason']} -- and passed with "
                f"{len(gate['float_layers'])} layer(s) kept in float: {', '.join(gate['float_layers'])})"
                if gate.get("float_layers")
                else ""
            )
            + f"; manifest licence: {(int8.get('licence') or 'none').split(' (')[0]}."
        )
    return notes


def background_note(background: dict[str, Any]) -> str:
    """One measured background row as a sentence (how much ambient it rests on first)."""
    if not background.get("with"):
        return f"Background class ({background['ambient']} ambient): not measured, {background.get('error')}."
    held = f"{background['ambient_hours'] * 60:.1f} min held back"
    if background.get("ambient_files"):
        held += f" in {background['ambient_files']} file(s), {background['with']['ambient_windows']} window(s)"
    gaps = background.get("gaps")
    if gaps:
        vetoed = sum(gaps[part]["stretches_vetoed_by_birdnet"] for part in ("train", "held"))
        held += (
            f": no-call stretches of the {gaps['held']['recordings']} test recordings; training background "
            f"{gaps['train']['seconds_kept']:.0f} s from the {gaps['train']['recordings']} pool recordings; BirdNET "
            f"vetoed {vetoed} stretch(es)"
        )
    screen = background.get("screen")
    if screen:
        pieces = sum(
            screen[part]["stretches_kept"] + screen[part]["stretches_vetoed_by_birdnet"] for part in ("train", "held")
        )
        vetoed = sum(screen[part]["stretches_vetoed_by_birdnet"] for part in ("train", "held"))
        held += (
            f": the BirdNET-clean pieces of {screen['held']['recordings']} held-back recordings; training background "
            f"{screen['train']['seconds_kept'] / 60:.1f} min from the other {screen['train']['recordings']}; BirdNET "
            f"vetoed {vetoed} of {pieces} pieces ({', '.join(screen['vetoed_labels'][:4]) or 'none'}"
            f"{', ...' if len(screen['vetoed_labels']) > 4 else ''})"
        )
    without, with_bg = background["without"], background["with"]
    ratio = background.get("target_ratio", 1 / 10)
    calls = (
        f"{background['call_clips']} test clips, {background['call_minutes']:.1f} min"
        if background.get("call_clips")
        else "the test calls"
    )
    recall = f"{with_bg['recall_on_calls']:.1%}"
    if abs(with_bg["recall_on_calls"] - without["recall_on_calls"]) > 1e-9:  # the nearest the 0.005 grid allows
        recall = f"{with_bg['recall_on_calls']:.1%} with, {without['recall_on_calls']:.1%} without,"
    note = (
        f"Background class ({background['ambient']} ambient, {held}), birdnet_head at 10 clips/class, equal recall "
        f"on the calls ({recall} of {calls}): {without['false_detections_per_hour']:.0f} false "
        f"detections/hour without ({without['false_detection_windows']} windows), "
        f"{with_bg['false_detections_per_hour']:.0f} with ({with_bg['false_detection_windows']}); target <= "
        f"1/{round(1 / ratio)}: "
        f"{'met' if background['target_met'] else 'NOT met'}."
    )
    if "false_detections_labelled_as_their_recording" in with_bg:
        note += (
            f" Of those, {without['false_detections_labelled_as_their_recording']} / "
            f"{with_bg['false_detections_labelled_as_their_recording']} carry the label of the recording the stretch "
            "was cut from (faint calls the energy criterion let through)."
        )
    if background["ambient_hours"] < 1 / 6:
        note += (
            f" Too little ambient audio to be meaningful (under 10 min): one window moves the rate by "
            f"{1 / background['ambient_hours']:.0f}/hour."
        )
    return note


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean (and spread) over seeds per size x variant."""
    table = []
    for size in sorted(dict.fromkeys(r["size"] for r in rows), key=lambda k: float("inf") if k == "all" else int(k)):
        for variant in VARIANTS:
            group = [r for r in rows if r["size"] == size and r["variant"] == variant]
            if not group:
                continue
            table.append({"size": size, "variant": variant, **seed_summary(group)})
    return table


def seed_summary(group: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max test accuracy, mean macro-F1 and seconds over the seeds of one (size, variant) cell."""
    accuracy = [r["accuracy"] for r in group]
    return {
        "seeds": len(group),
        "accuracy": float(np.mean(accuracy)),
        "accuracy_min": float(np.min(accuracy)),
        "accuracy_max": float(np.max(accuracy)),
        "macro_f1": float(np.mean([r["macro_f1"] for r in group])),
        "seconds": float(np.mean([r["seconds"] or 0 for r in group])),
    }


def markdown(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| clips/class | variant | seeds | test accuracy (min-max) | macro-F1 | wall s/run |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary:
        lines.append(
            f"| {row['size']} | {row['variant']} | {row['seeds']} | {row['accuracy']:.1%} "
            f"({row['accuracy_min']:.1%}-{row['accuracy_max']:.1%}) | {row['macro_f1']:.3f} | {row['seconds']:.0f} |"
        )
    return "\n".join(lines)
