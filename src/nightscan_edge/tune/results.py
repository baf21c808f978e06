"""The study's results in its folder: the Pareto table (JSON + Markdown), its plot and the winner.

Read from the storage, so any process may write them (each worker after each of its trials, the command at
the end); every file is written atomically, so a reader never sees half a table. The front is taken over the
trials within the budget: no other such trial has a macro-F1 at least as high and a latency at least as low
(one strictly). The winner is the most accurate trial within the budget (ties: the faster), or with ``tune
--confirm`` the best mean over seeds among the confirmed candidates (``tune.confirm``); its export is the file
to ship, and ``nightscan-edge check`` on it passes by construction (the same gate ran in the trial).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from nightscan_edge.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from nightscan_edge.study_folder import StudyFolder
from nightscan_edge.tune import attrs


@dataclass(frozen=True)
class TrialRow:
    trial: int
    state: str  # complete | pruned | failed | interrupted (resumed by the next start) | running | waiting
    params: dict[str, Any]
    run_dir: str | None
    model_dir: str | None
    export_dir: str | None
    macro_f1: float | None
    latency_p50_ms: float | None
    size_mb: float | None
    int8_gate: str | None
    within_budget: bool | None
    violations: list[str]
    on_front: bool
    note: str | None  # the error of a failed trial, the epoch a pruned one stopped at


def _row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    measured = trial.user_attrs.get(attrs.MEASUREMENT) if trial.state == TrialState.COMPLETE else None
    note = trial.user_attrs.get(attrs.ERROR)
    if trial.state == TrialState.PRUNED:
        note = f"stopped after epoch {trial.user_attrs.get(attrs.PRUNED_AT)}"
    return {
        "trial": trial.number,
        "state": "interrupted"
        if trial.user_attrs.get(attrs.INTERRUPTED)
        else trial.state.name.lower().replace("fail", "failed"),
        "params": dict(trial.params),
        "run_dir": trial.user_attrs.get(attrs.RUN_DIR),
        "model_dir": trial.user_attrs.get(attrs.MODEL_DIR),
        "export_dir": trial.user_attrs.get(attrs.EXPORT_DIR),
        "macro_f1": measured["macro_f1"] if measured else None,
        "latency_p50_ms": measured["latency_p50_ms"] if measured else None,
        "size_mb": measured["size_mb"] if measured else None,
        "int8_gate": measured["int8_gate"] if measured else None,
        "within_budget": not measured["violations"] if measured else None,
        "violations": measured["violations"] if measured else [],
        "note": note,
    }


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    better_or_equal = a["macro_f1"] >= b["macro_f1"] and a["latency_p50_ms"] <= b["latency_p50_ms"]
    strictly = a["macro_f1"] > b["macro_f1"] or a["latency_p50_ms"] < b["latency_p50_ms"]
    return bool(better_or_equal and strictly)


def table(study: optuna.Study) -> list[TrialRow]:
    rows = [_row(t) for t in study.get_trials(deepcopy=False)]
    feasible = [r for r in rows if r["within_budget"]]
    return [
        TrialRow(**row, on_front=bool(row["within_budget"]) and not any(_dominates(o, row) for o in feasible))
        for row in rows
    ]


def winner(rows: list[TrialRow]) -> TrialRow | None:
    feasible = [r for r in rows if r.within_budget and r.macro_f1 is not None and r.latency_p50_ms is not None]
    return max(feasible, key=lambda r: (r.macro_f1, -(r.latency_p50_ms or 0.0)), default=None)


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_markdown(
    name: str, rows: list[TrialRow], best: TrialRow | None, confirmations: list[dict[str, Any]] | None = None
) -> str:
    lines = [
        f"# Study {name}",
        "",
        "| trial | state | macro-F1 | latency p50 (ms, 1 thread) | size (MB) | INT8 gate | within budget | front |",
        "|---:|---|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        budget = "-" if row.within_budget is None else ("yes" if row.within_budget else "no")
        lines.append(
            f"| {row.trial} | {row.state} | {_cell(row.macro_f1, 3)} | {_cell(row.latency_p50_ms, 2)} | "
            f"{_cell(row.size_mb, 3)} | {row.int8_gate or '-'} | {budget} | {'*' if row.on_front else ''} |"
        )
    lines.append("")
    if best is not None:
        lines.append(f"Winner: trial {best.trial}, macro-F1 {best.macro_f1:.3f}, {best.latency_p50_ms:.2f} ms, "
                     f"{best.size_mb:.3f} MB: `{best.export_dir}`")  # fmt: skip
    else:
        lines.append("No trial within the budget yet.")
    if confirmations:
        lines += _confirmation_lines(confirmations, best)
    broken = [row for row in rows if row.violations]
    if broken:
        lines += ["", "Over the budget:", ""]
        lines += [f"- trial {row.trial}: {'; '.join(row.violations)}" for row in broken]
    return "\n".join(lines) + "\n"


def _confirmation_lines(confirmations: list[dict[str, Any]], best: TrialRow | None) -> list[str]:
    seeds = ", ".join(str(seed) for seed in confirmations[0]["seeds"])
    lines = [
        "",
        f"Confirmed on seeds {seeds} (the trial's own first; the winner is the best mean within the budget on every "
        "seed):",
        "",
        "| trial | macro-F1 per seed | mean | min | INT8 gate per seed | within budget on every seed |",
        "|---:|---|---:|---:|---|---|",
    ]
    for c in confirmations:
        per_seed = " / ".join(_cell(v, 3) for v in c["macro_f1"])
        gates = " / ".join(g or "-" for g in c["int8_gate"])
        lines.append(f"| {c['trial']} | {per_seed} | {_cell(c['mean_macro_f1'], 3)} | {_cell(c['min_macro_f1'], 3)} "
                     f"| {gates} | {'yes' if c['robust'] else 'no'} |")  # fmt: skip
    if not any(c["robust"] for c in confirmations) and best is not None:
        lines += ["", f"No candidate held the budget on every seed: the winner (trial {best.trial}) is unconfirmed."]
    return lines


def _points(rows: list[TrialRow]) -> tuple[list[float], list[float]]:
    """(latency, macro-F1) of measured rows, for the plot's axes."""
    return [float(r.latency_p50_ms or 0.0) for r in rows], [float(r.macro_f1 or 0.0) for r in rows]


def render_plot(name: str, rows: list[TrialRow], best: TrialRow | None) -> bytes:
    # pyplot only after choosing the file backend (no display on servers and Dask workers), as bench.report does
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if r.macro_f1 is not None and r.latency_p50_ms is not None]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    inside = [r for r in measured if r.within_budget]
    outside = [r for r in measured if not r.within_budget]
    if outside:
        axes.scatter(*_points(outside), c="tab:gray", marker="x", label="over the budget")
    if inside:
        axes.scatter(*_points(inside), c="tab:blue", label="within the budget")
    front = sorted((r for r in measured if r.on_front), key=lambda r: r.latency_p50_ms or 0.0)
    if front:
        axes.step(*_points(front), where="post", c="tab:blue", alpha=0.5, label="front")
    if best is not None:
        axes.scatter(*_points([best]), marker="*", s=250, c="tab:orange", label="winner")
    for row in measured:
        axes.annotate(str(row.trial), (row.latency_p50_ms or 0.0, row.macro_f1 or 0.0), textcoords="offset points",
                      xytext=(4, 4), fontsize=8)  # fmt: skip
    axes.set_xlabel("latency p50, batch 1, 1 thread (ms), exported file in its runtime")
    axes.set_ylabel("validation macro-F1")
    axes.set_title(f"study {name}: {len(measured)} measured trial(s)")
    axes.grid(alpha=0.3)
    if measured:
        axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def confirmed_or_single(rows: list[TrialRow], confirmations: list[dict[str, Any]] | None) -> TrialRow | None:
    """The winner: with confirmations, the best mean macro-F1 among candidates within the budget on every seed
    (ties: the faster); without them, or when none held, the most accurate single trial."""
    robust = [c for c in confirmations or [] if c["robust"]]
    if robust:
        by_trial = {r.trial: r for r in rows}
        best = max(robust, key=lambda c: (c["mean_macro_f1"], -(by_trial[c["trial"]].latency_p50_ms or 0.0)))
        return by_trial[best["trial"]]
    return winner(rows)


def winner_confirmation(best: TrialRow | None, confirmations: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The winner's confirmation when it held on every seed; None when there is none or it did not hold (the winner
    is then one seed's figure)."""
    if best is None:
        return None
    return next((c for c in confirmations or [] if c["trial"] == best.trial and c["robust"]), None)


@dataclass(frozen=True)
class WrittenResults:
    """What ``write_results`` wrote: every trial's row, the winner (None: none yet) and the winner's confirmation
    (None: not confirmed on every seed)."""

    rows: list[TrialRow]
    winner: TrialRow | None
    winner_confirmation: dict[str, Any] | None


def write_results(
    study: optuna.Study, folder: Path, confirmations: list[dict[str, Any]] | None = None
) -> WrittenResults:
    """Write the table, plot and winner of ``study`` into ``folder``.
    ``confirmations`` (``tune --confirm``, as ``Confirmation.as_dict``) pick the winner by its mean over seeds."""
    rows = table(study)
    best = confirmed_or_single(rows, confirmations)
    confirmed = winner_confirmation(best, confirmations)
    files = StudyFolder(folder)
    write_json_atomic(
        files.table_json,
        {
            "study": study.study_name,
            "trials": [asdict(r) for r in rows],
            "winner": best.trial if best else None,
            **({"confirmations": confirmations, "winner_confirmation": confirmed} if confirmations else {}),
        },
    )
    write_text_atomic(files.table_markdown, render_markdown(study.study_name, rows, best, confirmations))
    write_bytes_atomic(files.plot, render_plot(study.study_name, rows, best))
    if best is not None:
        write_json_atomic(files.winner_file, {**asdict(best), **({"confirmation": confirmed} if confirmed else {})})
    return WrittenResults(rows, best, confirmed)
