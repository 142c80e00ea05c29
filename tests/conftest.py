"""Shared fixtures. Real-data tests use the course staff's GTZAN copy beside the project
(``../shared/data/gtzan``); they skip where it is absent, except when
``GENRELAB_REQUIRE_REAL_DATA=1`` (set by ``.ci/run``), where its absence is a failure.

``built_book`` builds the book once per test session; ``test_book.py`` and ``test_browser.py``
share that build, and its time is printed in the test summary."""
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

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


def _synthetic_key():
    """What the prepared sample set depends on: the generator, ``prepare`` and the library."""
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*(root / "data_scripts").glob("*.py"), *(root / "genrelab").glob("*.py")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory):
    """A data folder holding the embedded sample set (default parameters, so the measured
    ``synthetic`` thresholds apply) and its prepared tables: about three minutes on 2 cores.
    Returns the folder to use as ``GENRELAB_DATA_DIR``. Tests only read it.

    It is made once per version of the code that makes it (:func:`_synthetic_key`) and kept in
    ``$GENRELAB_TEST_CACHE`` (default ``~/.cache/genre-lab/test-data``), so that ``make test``'s
    second pass (JAX) and later runs reuse it; a folder without its ``COMPLETE`` marker (an
    interrupted run) is made again."""
    import shutil

    from data_scripts.prepare import prepare
    from data_scripts.synthetic import make_synthetic

    cache = Path(os.environ.get("GENRELAB_TEST_CACHE")
                 or Path.home() / ".cache" / "genre-lab" / "test-data")
    data = cache / f"synthetic-{_synthetic_key()}"
    if (data / "COMPLETE").is_file():
        return data
    shutil.rmtree(data, ignore_errors=True)  # an unfinished one
    audio = make_synthetic(data / "synthetic")
    prepare(audio, data / "prepared" / "synthetic", progress=False)
    (data / "COMPLETE").write_text("made by tests/conftest.py\n")  # last: the folder is whole
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


class BuiltBook(NamedTuple):
    done: subprocess.CompletedProcess  # the jupyter-book run (returncode, stdout, stderr)
    html: Path                         # the built site: <html>/book/<page>.html
    used: str                          # the data set the chapters executed on
    seconds: float                     # how long the build took


_BOOK_BUILDS = []  # reported by pytest_terminal_summary


@pytest.fixture(scope="session")
def built_book(request, tmp_path_factory):
    """The book, built once per session as ``make book`` builds it (``--all -W -n
    --keep-going``) into a temporary folder, on the data set the book would use here; where no
    prepared data set is found, on the embedded sample set of :func:`synthetic_data`."""
    from genrelab import dataset

    root = Path(__file__).resolve().parents[1]
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    env = {**os.environ, "PATH": os.pathsep.join([str(jupyter_book.parent),
                                                   os.environ.get("PATH", "")])}
    try:
        used = dataset.dataset_info()["name"]
    except FileNotFoundError:  # no prepared data set here: build on the embedded sample set
        data = request.getfixturevalue("synthetic_data")
        env.update(GENRELAB_DATA_DIR=str(data), GENRELAB_AUDIO=str(data / "synthetic"),
                   GENRELAB_DATASET="synthetic")
        used = "synthetic"
    out = tmp_path_factory.mktemp("book")
    start = time.perf_counter()
    done = subprocess.run([str(jupyter_book), "build", "--all", "-W", "-n", "--keep-going",
                           "--path-output", str(out), str(root)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    _BOOK_BUILDS.append(f"book build on '{used}': {seconds:.0f} s, "
                        f"{'succeeded' if done.returncode == 0 else 'FAILED'} ({out})")
    print(_BOOK_BUILDS[-1])
    return BuiltBook(done, out / "_build" / "html", used, seconds)


def pytest_terminal_summary(terminalreporter):
    for line in _BOOK_BUILDS:
        terminalreporter.write_line(line)
