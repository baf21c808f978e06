"""The new-species benchmark's tables: the mean over seeds per row, each row's gap to ``birdnet_head`` on the
same draws against its issue-24 target, and the results document (kept apart so ``new_species.py`` stays the
experiment and this the report)."""

from __future__ import annotations

import numpy as np

from bench_common import machine_summary, today
from few_shot_report import seed_summary

ROWS = ("head", "distilled+u", "feature-ultralight", "feature-lightweight", "phone")
# Which of issue 24's routes a row is: the targets name route 1 (the phone file) and routes 2 or 3 (a < 3 MB file);
# distilled+u is the student the issue measured before the routes, held to the same bar for comparison.
ROUTE = {
    "phone": "route 1",
    "feature-ultralight": "route 3",
    "feature-lightweight": "route 3",
    "distilled+u": "today's student, not a route",
}


def summarise(rows: list[dict]) -> list[dict]:
    """Mean (min-max) over seeds per size x row, with the student's INT8 file where one was exported."""
    table = []
    for size in sorted({r["size"] for r in rows}, key=int):
        for name in dict.fromkeys([*ROWS, *(r["variant"] for r in rows)]):
            group = [r for r in rows if r["size"] == size and r["variant"] == name]
            if not group:
                continue
            files = [r["int8"] for r in group if (r.get("int8") or {}).get("size_mb")]
            table.append(
                {
                    "size": size,
                    "variant": name,
                    **seed_summary(group),
                    "int8_mb": float(np.mean([f["size_mb"] for f in files])) if files else None,
                    "latency_ms": float(np.mean([f["latency_ms_1_thread"] for f in files])) if files else None,
                    "label_epochs": ", ".join(sorted({str(r.get("label_epochs", "all")) for r in group})),
                    # runs recorded before the field existed say "?" (their commands, in the document, say)
                    "epochs": ", ".join(sorted({str(r.get("epochs", "?")) for r in group}, key=str)),
                }
            )
    return table


def gap_notes(summary: list[dict], runs: list[dict]) -> list[str]:
    """How far each row is behind birdnet_head on the same draws (the heads of its seeds: same clips, same test),
    per seed and on the mean, and its target: route 1 (``phone``) within 1 point under 8 MB INT8, an edge student
    within 5 points under 3 MB INT8 at 10 clips per class."""
    notes = []
    for row in summary:
        size, name = row["size"], row["variant"]
        heads = {r["seed"]: r["accuracy"] for r in runs if r["variant"] == "head" and r["size"] == size}
        mine = {r["seed"]: r["accuracy"] for r in runs if r["variant"] == name and r["size"] == size}
        if name == "head" or not mine or not set(mine) <= set(heads):
            continue
        per_seed = {seed: 100 * (heads[seed] - accuracy) for seed, accuracy in sorted(mine.items())}
        gap = float(np.mean(list(per_seed.values())))
        route = f" ({ROUTE[name]})" if name in ROUTE else ""
        text = (
            f"{name}{route} at {size} clips/class: {gap:.1f} points behind birdnet_head on the same "
            f"{len(mine)} draw(s) "
            f"(per seed: " + ", ".join(f"{seed}: {value:.1f}" for seed, value in per_seed.items()) + ")"
        )
        if row.get("int8_mb") and (name == "phone" or size == "10"):
            points, megabytes = (1.0, 8.0) if name == "phone" else (5.0, 3.0)
            met = gap <= points and row["int8_mb"] < megabytes
            text += (
                f"; target (< {megabytes:g} MB INT8, within {points:g} point(s)): {'met' if met else 'NOT met'}"
                f", {row['int8_mb']:.2f} MB"
            )
            # the gap is the checkpoint's; the INT8 file keeps it only where the export's gate passed it
            judged = [r for r in runs if r["variant"] == name and r["size"] == size and r.get("int8")]
            refused = [r for r in judged if r["int8"].get("status") == "rejected"]
            if refused:
                text += f"; its INT8 file passed the export's gate on {len(judged) - len(refused)} of {len(judged)} "
                text += "seed(s) (" + "; ".join(f"seed {r['seed']}: {r['int8'].get('error')}" for r in refused) + ")"
        notes.append(text + ".")
    return notes


def markdown(summary: list[dict]) -> str:
    lines = [
        "| clips/class | row | seeds | test accuracy (min-max) | macro-F1 | INT8 MB | LiteRT ms (1 thread) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summary:
        size = f"{row['int8_mb']:.2f}" if row["int8_mb"] else "-"
        latency = f"{row['latency_ms']:.1f}" if row["latency_ms"] else "-"
        lines.append(
            f"| {row['size']} | {row['variant']} | {row['seeds']} | {row['accuracy']:.1%} ({row['accuracy_min']:.1%}-"
            f"{row['accuracy_max']:.1%}) | {row['macro_f1']:.3f} | {size} | {latency} |"
        )
    return "\n".join(lines)


def result_document(rows: list[dict], split: dict, args, command: str) -> dict:
    summary = summarise(rows)
    return {
        "title": "Few-shot, new-species mode: every clip at 16 kHz, splits grouped by source recording",
        "date": today(),
        "machine": machine_summary(args.threads),
        "command": command,
        "setup": (
            f"animal-sounds resampled to 16 kHz; {split['groups']} recording groups (BirdNET mean-embedding cosine "
            f">= {args.group_similarity}); fixed grouped test {split['test']} and validation {split['val']} clips, "
            f"K clips per class from the other {split['pool']}. Students train for the epochs of their row (each "
            f"epoch >= {args.steps} steps of 32) with --teacher head and --unlabeled (the pool clips not drawn); "
            "feature-distilled students first learn BirdNET's embedding (epochs: embedding_epochs of each run) on "
            f"the labelled clips, the pool and {args.ambient or 'no ambient folder'}. Test figures, checkpoint picked "
            "on validation."
        ),
        "split": split,
        "figures": [
            {
                "clips/class": r["size"],
                "row": r["variant"],
                "seeds": r["seeds"],
                "test accuracy": f"{r['accuracy']:.1%}",
                "range": f"{r['accuracy_min']:.1%}-{r['accuracy_max']:.1%}",
                "macro-F1": f"{r['macro_f1']:.3f}",
                "label epochs": r["label_epochs"] if r["variant"] != "head" else "-",
                "epochs": r["epochs"] if r["variant"] != "phone" else "-",
                "INT8 MB": f"{r['int8_mb']:.2f}" if r["int8_mb"] else "-",
                "LiteRT ms, 1 thread": f"{r['latency_ms']:.1f}" if r["latency_ms"] else "-",
            }
            for r in summary
        ],
        "notes": gap_notes(summary, rows)
        + [
            f"{r['variant']} (seed {r['seed']}, {r['label_epochs']}): validation accuracy after each label epoch "
            + ", ".join(f"{value:.1%}" for value in r["val_accuracy_by_epoch"])
            for r in rows
            if r.get("val_accuracy_by_epoch")
        ],
        "runs": rows,
    }
