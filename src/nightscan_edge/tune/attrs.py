"""The names of what a trial records in the storage (``trial.user_attrs``), written by ``trial`` and read by
``results``, ``resume`` and the sampler's constraints: one name each, in one place."""

from __future__ import annotations

RUN_DIR = "run_dir"
MODEL_DIR = "model_dir"  # the run whose weights were exported (the pruned run when pruning)
EXPORT_DIR = "export_dir"
MEASUREMENT = "measurement"
CONSTRAINTS = "constraints"
ERROR = "error"  # a crash: not retried
INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM: resumed by the next start
PRUNED_AT = "pruned_at_epoch"
PROBE = "probe"  # the smallest configuration, measured first and never pruned
RESUME_OF = "resume_of"  # the interrupted trial whose run folder this one continues
CPU_SECONDS = "cpu_seconds"  # CPU time of the trial's process (and its children) while the trial ran
OWNER = "owner"  # "host:pid" of the process running the trial: a dead owner on this host means interrupted
