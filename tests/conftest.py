"""Shared fixtures. Real-data tests use the course staff's GTZAN copy beside the project
(``../shared/data/gtzan``); they skip where it is absent, except when
``GENRELAB_REQUIRE_REAL_DATA=1`` (set by ``.ci/run``), where its absence is a failure."""
import os

import pytest

from genrelab.dataset import shared_gtzan


@pytest.fixture(scope="session")
def real_gtzan():
    root = shared_gtzan()
    if not (root / "genres").is_dir():
        message = f"the shared GTZAN copy is not at {root}"
        if os.environ.get("GENRELAB_REQUIRE_REAL_DATA") == "1":
            pytest.fail(message + " (GENRELAB_REQUIRE_REAL_DATA=1)")
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """A data folder holding the embedded sample set (default parameters, so the measured
    ``synthetic`` thresholds apply) and its prepared tables: about a minute on 2 cores.
    Returns the folder to use as ``GENRELAB_DATA_DIR``."""
    from data_scripts.prepare import prepare
    from data_scripts.synthetic import make_synthetic

    data = tmp_path_factory.mktemp("data")
    audio = make_synthetic(data / "synthetic")
    prepare(audio, data / "prepared" / "synthetic", progress=False)
    return data


@pytest.fixture
def synthetic_env(synthetic_data, tmp_path, monkeypatch):
    """Environment for code (and subprocesses) that should see only the sample set and a
    throw-away course folder."""
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(synthetic_data))
    monkeypatch.setenv("GENRELAB_AUDIO", str(synthetic_data / "synthetic"))
    monkeypatch.setenv("GENRELAB_DATASET", "synthetic")
    monkeypatch.setenv("GENRELAB_COURSE_DIR", str(tmp_path / "course"))
    return synthetic_data
