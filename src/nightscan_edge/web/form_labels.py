"""Words and units the new-run form shows beside each config field.

Only presentation lives here: the field names come from the config schema (``nightscan_edge.config``) and
``nightscan_edge.web.forms`` builds the widgets; this module turns a dotted field name into a label a
newcomer can read and the unit printed beside its input.
"""

from __future__ import annotations

# Field names a newcomer must not have to decode; everything else is the field name in words.
LABELS = {
    "lr": "Learning rate",
    "n_fft": "FFT size",
    "n_mels": "Mel bands",
    "f_min": "Lowest frequency",
    "f_max": "Highest frequency",
    "top_db": "Dynamic range",
    "clip_samples": "Window length",
    "hop_length": "Hop length",
    "val_fraction": "Validation share",
    "test_fraction": "Test share",
    "max_bad_fraction": "Unreadable files allowed",
    "num_workers": "Data-loading workers",
    "gain_db": "Random gain",
    "rotation_degrees": "Random rotation",
    "num_threads": "CPU threads",
    "min_steps_per_epoch": "Minimum steps per epoch",
    "limit_train_batches": "Batches per epoch (limit)",
    "early_stopping_patience": "Early stopping after",
    "plateau_patience": "Plateau patience",
    "step_size": "LR step every",
    "gamma": "LR decay factor",
    "distill_alpha": "Distillation weight",
    "distill_temperature": "Distillation temperature",
}
# Units shown beside the input, by field name (or its ending).
UNITS = {
    "epochs": "epochs",
    "batch_size": "clips per step",
    "sample_rate": "Hz",
    "clip_samples": "samples",
    "n_fft": "samples",
    "hop_length": "samples",
    "f_min": "Hz",
    "f_max": "Hz",
    "top_db": "dB",
    "gain_db": "± dB",
    "rotation_degrees": "degrees",
    "image_size": "pixels",
    "step_size": "epochs",
    "early_stopping_patience": "epochs without improvement",
    "plateau_patience": "epochs",
    "freq_mask_width": "mel bands",
    "time_mask_width": "frames",
}
UNIT_ENDINGS = (("_fraction", "0–1"), ("_probability", "0–1"), ("_seconds", "s"), ("_ms", "ms"), ("_mb", "MB"))


def human_label(dotted: str) -> str:
    name = dotted.rsplit(".", 1)[-1]
    if name in LABELS:
        return LABELS[name]
    words = name.replace("_db", "").replace("_degrees", "").replace("_", " ")
    return words[:1].upper() + words[1:]


def unit_of(dotted: str) -> str:
    name = dotted.rsplit(".", 1)[-1]
    if name in UNITS:
        return UNITS[name]
    return next((unit for ending, unit in UNIT_ENDINGS if name.endswith(ending)), "")
