"""Train/val/test splits: the manifest's own split or fold when it has one, else stratified and seeded.

With a ``group`` column (recording, site, night, camera burst) whole groups go to one split, so that windows
of one recording never sit on both sides of the evaluation. A multi-label set (a sample's ``targets``) is split by
iterative stratification over its groups (Sechidis, Tsoumakas & Vlahavas, "On the Stratification of Multi-Label
Data", ECML PKDD 2011): the rarest label is placed first, each group going to the split that still wants that label
most, so every label reaches validation as far as its groups allow; windows with no label count as one more
"label" so negatives spread too. The split is written to the run folder
(``split.csv``) and read back on resume, so a resumed run evaluates on exactly the same files.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from nightscan_edge.data.errors import DataError
from nightscan_edge.data.sources import Sample

# The split.csv format belongs to the run folder; re-exported here where the split is made.
from nightscan_edge.run_folder import SplitEntry, SplitPlan, read_split, write_split

__all__ = [
    "SPLIT_NAMES",
    "SplitEntry",
    "SplitPlan",
    "check_class_sizes",
    "entry_classes",
    "make_split",
    "read_split",
    "write_split",
]

SPLIT_NAMES = ("train", "val", "test")
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}


def _manifest_split(samples: list[Sample]) -> list[str] | None:
    values = [s.split for s in samples]
    if all(v is None for v in values):
        return None
    known = [_SPLIT_ALIASES.get(v.lower()) if v else None for v in values]
    if all(k is None for k in known):
        return None  # a split column with other meanings (e.g. "shared"): not ours to interpret
    unknown = sorted({v for v, k in zip(values, known, strict=False) if k is None and v})
    if unknown or any(k is None for k in known):  # with no unknown value, None means an empty cell
        raise DataError(
            f"split column has values other than train/val/test: {', '.join(unknown) or '(empty)'}; "
            "fill it for every row or remove the column"
        )
    return [k for k in known if k is not None]


def _fold_split(samples: list[Sample], val_fold: str | None) -> tuple[list[str], str]:
    folds = sorted({s.fold for s in samples if s.fold}, key=lambda f: (len(f), f))  # the caller checked: all set
    if len(folds) < 2:
        raise DataError(f"the fold column has a single value ({folds[0]}); need at least two folds")
    chosen = val_fold if val_fold is not None else folds[-1]
    if chosen not in folds:
        raise DataError(f"data.val_fold={chosen} is not a fold of this data set; folds: {', '.join(folds)}")
    return ["val" if s.fold == chosen else "train" for s in samples], f"fold {chosen} for validation"


def _quotas(count: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    n_val = max(1, round(count * val_fraction))
    n_test = max(1, round(count * test_fraction)) if test_fraction > 0 else 0
    return n_val, n_test


def _stratified(samples: list[Sample], val_fraction: float, test_fraction: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        by_label[sample.label].append(index)
    splits = ["train"] * len(samples)
    for label in sorted(by_label):
        indices = by_label[label]
        n_val, n_test = _quotas(len(indices), val_fraction, test_fraction)
        order = rng.permutation(len(indices))
        for rank, position in enumerate(order):
            if rank < n_val:
                splits[indices[position]] = "val"
            elif rank < n_val + n_test:
                splits[indices[position]] = "test"
    return splits


def _grouped(samples: list[Sample], val_fraction: float, test_fraction: float, seed: int) -> list[str]:
    """Whole groups per split, stratified by each group's majority label."""
    rng = np.random.default_rng(seed)
    members = _group_members(samples)
    by_label: dict[str, list[str]] = defaultdict(list)
    for group, indices in sorted(members.items()):
        majority = Counter(samples[i].label for i in indices).most_common(1)[0][0]
        by_label[majority].append(group)
    splits = ["train"] * len(samples)
    for label in sorted(by_label):
        groups = by_label[label]
        if len(groups) < 2 + (test_fraction > 0):
            continue  # too few groups to split this label: checked per label afterwards
        n_val, n_test = _quotas(len(groups), val_fraction, test_fraction)
        for rank, position in enumerate(rng.permutation(len(groups))):
            split = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
            for index in members[groups[position]]:
                splits[index] = split
    return splits


def _group_members(samples: list[Sample]) -> dict[str, list[int]]:
    members: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        members[sample.group or f"__file_{index}"].append(index)
    return members


NEGATIVE_KEY = ""  # the "label" of a window where nothing calls, for stratification only


def _multilabel_split(samples: list[Sample], val_fraction: float, test_fraction: float, seed: int) -> list[str]:
    """Iterative stratification of whole groups (see the module docstring); a split that has fewer groups of a
    label than it wants is asked for at least one, so a label with two groups lands in train and val."""
    rng = np.random.default_rng(seed)
    members = _group_members(samples)
    groups = sorted(members)
    holds: dict[str, Counter[str]] = {
        group: Counter(label for i in members[group] for label in (samples[i].classes or (NEGATIVE_KEY,)))
        for group in groups
    }
    totals: Counter[str] = Counter()
    for counts in holds.values():
        totals.update(counts)
    fractions = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}
    names = [name for name in SPLIT_NAMES if fractions[name] > 0]
    group_counts = Counter(label for counts in holds.values() for label in counts)
    wants = {
        name: {
            label: max(fractions[name] * total, 1.0 if name != "train" and group_counts[label] >= len(names) else 0.0)
            for label, total in totals.items()
        }
        for name in names
    }
    room = {name: fractions[name] * len(samples) for name in names}
    splits = ["train"] * len(samples)
    left = set(groups)
    while left:
        remaining: Counter[str] = Counter()
        for group in left:
            remaining.update(holds[group])
        label = min(remaining, key=lambda key: (remaining[key], key))
        for position in rng.permutation(len(groups)):
            group = groups[position]
            if group not in left or not holds[group][label]:
                continue
            tie_break = rng.random(len(names))
            name = max(names, key=lambda n: (wants[n][label], room[n], tie_break[names.index(n)]))
            for key, count in holds[group].items():
                wants[name][key] -= count
            room[name] -= len(members[group])
            for index in members[group]:
                splits[index] = name
            left.discard(group)
    return splits


def check_label_sizes(samples: list[Sample], need_test: bool) -> None:
    """Multi-label: every label must occur in enough clips (and groups) to reach each split."""
    if not any(s.classes for s in samples):
        raise DataError("no clip holds a label (every labels cell is empty); a classifier needs labelled clips")
    minimum = 3 if need_test else 2
    members = _group_members(samples)
    groups: Counter[str] = Counter(
        label for indices in members.values() for label in {lab for i in indices for lab in samples[i].classes}
    )
    small = sorted(f"{label} ({n})" for label, n in groups.items() if n < minimum)
    if small:
        raise DataError(
            f"label(s) in fewer than {minimum} clips or groups: {', '.join(small)}; each label needs one in train "
            "and validation" + (" and test" if need_test else "") + " to be learnt and judged: add clips or drop it"
        )


def check_class_sizes(samples: list[Sample], need_test: bool) -> None:
    if any(s.targets is not None for s in samples):
        check_label_sizes(samples, need_test)
        return
    counts = Counter(s.label for s in samples)
    if not counts:
        raise DataError("the data set is empty: no readable files")
    if len(counts) < 2:
        raise DataError(f"only one class ({next(iter(counts))}); a classifier needs at least two labels")
    minimum = 3 if need_test else 2
    small = sorted(f"{label} ({n})" for label, n in counts.items() if n < minimum)
    if small:
        raise DataError(
            f"class(es) with fewer than {minimum} examples: {', '.join(small)}; each class needs one per "
            "split (train, val" + (", test" if need_test else "") + "): add files or drop the class"
        )


def make_split(
    samples: list[Sample],
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    val_fold: str | None = None,
) -> SplitPlan:
    """Assign every sample to train/val[/test]; fails when a split would lack a class."""
    check_class_sizes(samples, need_test=test_fraction > 0)
    multilabel = any(s.targets is not None for s in samples)
    manifest = _manifest_split(samples)
    if manifest is not None:
        splits, method = manifest, "the manifest's split column"
    elif any(s.fold for s in samples):
        if not all(s.fold for s in samples):
            raise DataError("the fold column is empty for some rows; fill it for every row or remove it")
        splits, method = _fold_split(samples, val_fold)
    elif multilabel:
        splits = _multilabel_split(samples, val_fraction, test_fraction, seed)
        grouping = "groups kept whole, " if any(s.group for s in samples) else ""
        method = f"{grouping}iterative stratification per label, seed {seed}"
    elif any(s.group for s in samples):
        splits = _grouped(samples, val_fraction, test_fraction, seed)
        method = f"groups kept whole, stratified, seed {seed}"
    else:
        splits = _stratified(samples, val_fraction, test_fraction, seed)
        method = f"stratified random, seed {seed}"
    plan = SplitPlan(
        [SplitEntry(s.path, s.label, split, s.group, s.targets) for s, split in zip(samples, splits, strict=False)],
        method,
    )
    _check_plan(plan)
    return plan


def entry_classes(entry: SplitEntry) -> tuple[str, ...]:
    """The labels a split entry is positive for: its targets (multi-label), or its one label."""
    return entry.targets if entry.targets is not None else (entry.label,)


def _check_plan(plan: SplitPlan) -> None:
    train_labels = {label for e in plan.of("train") for label in entry_classes(e)}
    val_labels = {label for e in plan.of("val") for label in entry_classes(e)}
    if not plan.of("val"):
        raise DataError(f"no validation files ({plan.method}); lower the fraction or add files")
    missing = sorted({label for e in plan.entries for label in entry_classes(e)} - train_labels)
    if missing:
        raise DataError(f"no training files for class(es) {', '.join(missing)} ({plan.method}); add files")
    missing_val = sorted(train_labels - val_labels)
    if missing_val:
        raise DataError(
            f"no validation files for class(es) {', '.join(missing_val)} ({plan.method}); add files or groups for them"
        )
