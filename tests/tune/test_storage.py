"""Where a study lives: SQLite by default, a journal file or any SQLAlchemy URL; one name keeps one search."""

from __future__ import annotations

import pytest
from optuna.storages import JournalStorage, RDBStorage

from nightscan_edge.tune.errors import TuneError
from nightscan_edge.tune.sampling import make_sampler
from nightscan_edge.tune.storage import SEARCH_ATTR, default_storage_url, open_storage, open_study


def test_sqlite_by_default_and_a_journal_file_for_shared_file_systems(tmp_path):
    assert isinstance(open_storage(default_storage_url(tmp_path)), RDBStorage)
    assert isinstance(open_storage(str(tmp_path / "study.journal")), JournalStorage)
    with pytest.raises(TuneError, match="folder .*missing does not exist"):
        open_storage(str(tmp_path / "missing" / "study.journal"))


def test_the_same_name_resumes_the_same_search_and_refuses_another(tmp_path):
    storage = open_storage(default_storage_url(tmp_path))
    search = {"model": "ultralight_audio", "space": {"lr": "0.001..0.01 (log)"}}
    study = open_study("s", storage, search, make_sampler(0, 1))
    assert study.user_attrs[SEARCH_ATTR] == search
    assert open_study("s", storage, search, make_sampler(0, 1)).study_name == "s"
    with pytest.raises(TuneError, match="study 's' already exists with a different space"):
        open_study("s", storage, {**search, "space": {"lr": "0.002..0.01 (log)"}}, make_sampler(0, 1))
