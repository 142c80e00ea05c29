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
