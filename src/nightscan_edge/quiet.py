"""Library chatter, silenced line by line where it is produced; ``--verbose`` (or ``NIGHTSCAN_VERBOSE=1``) shows it.

A field biologist running ``train`` or ``export`` should see our lines ("onnx fp32: ok") and real problems,
not a Lightning advertisement, deprecation notices meant for library authors or TensorFlow's start-up
banner. Each entry below names the exact message (or logger) it hides and why it is noise for our users;
nothing is hidden by category or module wholesale, so a new warning from the same library still shows.

Called once by the CLI before a command runs; web workers are CLI processes and inherit the same
behaviour (and ``NIGHTSCAN_VERBOSE`` through their environment).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "NIGHTSCAN_VERBOSE"

# (message regex, category, why it is not the user's business)
KNOWN_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    (
        r"Checkpoint directory .* exists and is not empty",
        UserWarning,
        "Lightning: a run folder always holds config.yaml before the first checkpoint is written",
    ),
    (
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        Warning,
        "Lightning's own pytree helper on torch >= 2.10; nothing a user can change",
    ),
    (
        r"`torch\.jit\.trace(_method)?` is deprecated",
        FutureWarning,
        "coremltools converts from a TorchScript trace; the deprecation is for torch users, not ours",
    ),
    (
        r"Output, '.*', of the source model, has been renamed",
        UserWarning,
        "coremltools renames the traced output; the manifest records the real output name",
    ),
    (
        r"The '(train|val)_dataloader' does not have many workers",
        UserWarning,
        "Lightning's data-loader advice; workers are set by train.num_workers on purpose",
    ),
    (
        r"invalid value encountered in (divide|cast)",
        RuntimeWarning,
        "coremltools' INT8 weight quantizer on an all-zero channel: 0/0 scale, dequantized to 0 either way",
    ),
    (
        r"Argument ``(heartbeat_interval|multivariate|constraints_func)`` is an experimental feature",
        Warning,  # optuna.exceptions.ExperimentalWarning
        "Optuna marks the options `tune` relies on as experimental; docs/tune.md says which and why",
    ),
    (
        r"Heartbeat of storage is supposed to be used with Study\.optimize",
        UserWarning,
        "Optuna: `tune` asks/tells the per-epoch companion study on the same (heartbeat) storage on purpose",
    ),
)
# Only from these modules (the message alone is too general to hide everywhere).
WARNING_MODULES = {r"invalid value encountered in (divide|cast)": r"coremltools\.optimize\."}
# Loggers whose INFO lines are start-up banners ("GPU available: False", the litlogger tip,
# "`Trainer.fit` stopped: `max_epochs=2` reached") or internal notes.
# Lightning sets its package loggers to INFO when it is imported (after us), so the levels go on the
# children that print the banners, which Lightning leaves alone.
QUIET_LOGGERS: dict[str, int] = {
    "lightning.pytorch.utilities.rank_zero": logging.WARNING,
    "lightning.fabric.utilities.rank_zero": logging.WARNING,
    "lightning.pytorch.trainer.connectors.checkpoint_connector": logging.WARNING,
    "torch.utils._pytree": logging.ERROR,  # Enum register_constant deprecation from executorch/torchao
    "absl": logging.ERROR,
    "tensorflow": logging.ERROR,
    "coremltools": logging.ERROR,
}
# Native (C++) loggers read these before their library loads; setdefault keeps a user's own choice.
QUIET_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow/LiteRT INFO and WARNING lines (oneDNN banner, op counts)
    "GRPC_VERBOSITY": "ERROR",
    "GLOG_minloglevel": "2",
}


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


# Commands that draw no progress bar of their own: converters' tqdm bars (coremltools prints five per
# export) only hide our one-line results there. ``train`` keeps tqdm for its own epoch bar.
NO_BAR_COMMANDS = ("export", "quantize", "bench", "check")


def quiet_libraries(show: bool | None = None, command: str | None = None) -> None:
    """Install the filters above for this process (and its children, for the environment variables)."""
    if show is None:
        show = verbose()
    if show:
        os.environ[VERBOSE_ENV] = "1"
        return
    for message, category, _why in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=WARNING_MODULES.get(message, ""))
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if command in NO_BAR_COMMANDS:
        os.environ.setdefault("TQDM_DISABLE", "1")  # read by tqdm's envwrap when tqdm is first imported


# Lines native libraries print straight to file descriptor 2 (no Python logger to lower): TensorFlow's
# absl start-up notes, LiteRT's delegate banner, ExecuTorch's CPU probe.
NATIVE_NOISE = tuple(
    re.compile(pattern)
    for pattern in (
        r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
        r"\] oneDNN custom operations are on",
        r"flatbuffer_export\.cc:\d+\] Estimated count of arithmetic ops",
        r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU",
        r"^\[cpuinfo_utils\.cpp:\d+\]",
    )
)


# fd 2 is one per process: two threads swapping it at once would leave it on a closed capture file (every later
# line lost), so captures take turns; re-entrant, so a capture inside a capture (export -> LiteRT runner) works.
_FD2_LOCK = threading.RLock()


@contextmanager
def native_noise_filtered() -> Iterator[None]:
    """Run a block with fd 2 captured, then pass every captured line except ``NATIVE_NOISE`` on to stderr.

    Everything else (Python warnings, tracebacks, unknown native messages) still reaches the user, only
    after the block ends; ``--verbose`` skips the capture entirely.
    """
    if verbose():
        yield
        return
    with _FD2_LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                text = capture.read().decode("utf-8", "replace")
                kept = [
                    line
                    for line in text.splitlines(keepends=True)
                    if not any(pattern.search(line) for pattern in NATIVE_NOISE)
                ]
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
