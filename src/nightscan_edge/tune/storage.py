"""Where a study lives, and the check that one study name always means one search.

Default: ``sqlite:///<study folder>/study.db`` (embedded, nothing to run). Any SQLAlchemy URL (PostgreSQL,
MySQL) lets several machines run the same command against one study; a path ending in ``.journal`` (or
``journal:PATH``) uses Optuna's JournalStorage on a shared file system instead, for machines without a
database server. The study records what it searches (model, space, budget, formats); the same name with
another search is refused before anything runs, so no trial of one search is ever scored as the other's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from nightscan_edge.study_folder import StudyFolder
from nightscan_edge.tune.errors import TuneError

JOURNAL_PREFIX = "journal:"
JOURNAL_SUFFIX = ".journal"
SEARCH_ATTR = "nightscan_search"  # the study's user attribute holding what it searches
# A process killed without a word (OOM, power) leaves its trial RUNNING; with a heartbeat Optuna marks it
# failed once it has been silent this long, and the next start queues it again (``resume``).
HEARTBEAT_S = 30
GRACE_S = 120


def default_storage_url(study_folder: Path) -> str:
    return f"sqlite:///{StudyFolder(study_folder).database.resolve()}"


def open_storage(url: str) -> BaseStorage:
    """The storage ``url`` names, opened now so a bad URL fails in one line before any trial starts."""
    try:
        if url.startswith(JOURNAL_PREFIX) or url.endswith(JOURNAL_SUFFIX):
            path = Path(url.removeprefix(JOURNAL_PREFIX)).expanduser()
            if not path.parent.is_dir():
                raise TuneError(f"--storage {url}: folder {path.parent} does not exist; create it or pick another path")
            return JournalStorage(JournalFileBackend(str(path)))
        return RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
    except TuneError:
        raise
    except Exception as error:  # SQLAlchemy's errors for a bad URL, an unreachable server, an unwritable file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TuneError(
            f"--storage {url} cannot be opened ({type(error).__name__}: {reason}); give a SQLAlchemy URL such as "
            "sqlite:///study.db or postgresql://user@host/db, or a .journal file path"
        ) from None


def open_study(
    name: str, storage: BaseStorage, search: dict[str, Any], sampler: optuna.samplers.BaseSampler
) -> optuna.Study:
    """Create the study, or load it when it exists and searches the same thing; refuse another search."""
    try:
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            directions=["maximize", "minimize"],
            sampler=sampler,
            load_if_exists=True,
        )
    except ValueError as error:  # an existing single-objective study of this name
        raise TuneError(
            f"study '{name}' exists in this storage with other objectives ({error}); pick --study"
        ) from None
    recorded = study.user_attrs.get(SEARCH_ATTR)
    if recorded is None:
        study.set_user_attr(SEARCH_ATTR, search)
    elif recorded != search:
        differs = sorted(key for key in set(recorded) | set(search) if recorded.get(key) != search.get(key))
        raise TuneError(
            f"study '{name}' already exists with a different {', '.join(differs)}; resume it with the same options "
            "or pass --study NEW_NAME (nothing was changed)"
        )
    return study
