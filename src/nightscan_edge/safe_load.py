"""``load_torch_file``: the one way this package reads a ``.ckpt``/``.pt``/``.pth`` file -- tensors and plain
values only.

``torch.load`` unpickles, and a pickle can name any Python callable (``os.system``...) to run while loading.
Checkpoints reach this package from users, uploaded zips and ``model.init_from``/``train.teacher`` paths, so
every load goes through ``weights_only=True``: PyTorch's restricted unpickler that accepts tensors, containers
and primitive types and refuses any other global before calling it. What the project saves (Lightning's
checkpoint dict, optimizer/scheduler/callback states, the ``"nightscan"`` metadata of plain JSON values) needs
nothing more, so no extra safe globals are registered.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from nightscan_edge.errors import UserError


class UnsafeCheckpointError(UserError):
    """A checkpoint/weights file that holds pickled Python objects (code) beyond tensors and plain values."""


class UnreadableCheckpointError(UserError):
    """A file that is not a PyTorch checkpoint at all (truncated, another format)."""


def _one_line(text: str, limit: int = 200) -> str:
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _refused_global(message: str) -> str:
    """The part of torch's (multi-paragraph) refusal that names what the pickle wanted to call."""
    for line in message.splitlines():
        if "GLOBAL" in line or "Unsupported" in line:
            return _one_line(line)
    return _one_line(message)


def load_torch_file(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; a refused or unreadable file -> one-line ``UserError``."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UnreadableCheckpointError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise UnreadableCheckpointError(f"{what} {path} is a folder, not a file") from None
    except pickle.UnpicklingError as error:
        text = str(error)
        if "Weights only load failed" in text or "GLOBAL" in text:
            raise UnsafeCheckpointError(
                f"refused {what} {path}: it holds pickled Python objects, not only weights "
                f"({_refused_global(text)}); only tensors and plain values are loaded"
            ) from None
        raise UnreadableCheckpointError(f"{what} {path} is not a readable PyTorch file ({_one_line(text)})") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as error:
        raise UnreadableCheckpointError(
            f"{what} {path} is not a readable PyTorch file ({_one_line(str(error))})"
        ) from None
