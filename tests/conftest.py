"""Shared fixtures. Real-data tests use the course staff's GTZAN copy beside the project
(``../shared/data/gtzan``); they skip where it is absent, except when
``GENRELAB_REQUIRE_REAL_DATA=1`` (set by ``.ci/run``), where its absence is a failure.

``built_book`` builds the book once per test session for ``test_book.py`` (its pages and its
browser tests), and its time is printed in the test summary.

``make test`` runs the files on pytest-xdist workers (``-n 2 --dist loadfile``): each test file
runs whole on one worker, so that its module fixtures are made once. The sample set and the book
are made once for all workers: the first worker to need one makes it, under a file lock, and
the others read it."""
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


SYNTHETIC_SOURCES = ("data_scripts/synthetic.py", "data_scripts/prepare.py", "genrelab/__init__.py",
                     "genrelab/audio.py", "genrelab/features.py", "genrelab/dataset.py",
                     "genrelab/splits.py")
"""What the prepared sample set depends on: the generator, ``prepare`` and the library modules
they import (a new chapter's module does not make it again)."""


def _synthetic_key():
    import hashlib

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in SYNTHETIC_SOURCES:
        digest.update(name.encode() + (root / name).read_bytes())
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
    import fcntl

    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{data.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be making it: wait for it
        if not (data / "COMPLETE").is_file():
            shutil.rmtree(data, ignore_errors=True)  # an unfinished one
            audio = make_synthetic(data / "synthetic")
            prepare(audio, data / "prepared" / "synthetic", progress=False)
            (data / "COMPLETE").write_text("made by tests/conftest.py\n")  # last: it is whole
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
    import fcntl
    import json

    # One build for the whole session: with pytest-xdist, in the folder all workers share.
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    out, record = shared / "book", shared / "book.json"
    with open(shared / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it: wait for it
        if not record.is_file():
            out.mkdir(exist_ok=True)
            start = time.perf_counter()
            done = subprocess.run([str(jupyter_book), "build", "--all", "-W", "-n",
                                   "--keep-going", "--path-output", str(out), str(root)],
                                  cwd=root, env=env, capture_output=True, text=True,
                                  timeout=1800)
            seconds = time.perf_counter() - start
            _BOOK_BUILDS.append(f"book build on '{used}': {seconds:.0f} s, "
                                f"{'succeeded' if done.returncode == 0 else 'FAILED'} ({out})")
            print(_BOOK_BUILDS[-1])
            record.write_text(json.dumps({"args": done.args, "returncode": done.returncode,
                                          "stdout": done.stdout, "stderr": done.stderr,
                                          "seconds": seconds}))
    built = json.loads(record.read_text())
    done = subprocess.CompletedProcess(built["args"], built["returncode"], built["stdout"],
                                       built["stderr"])
    return BuiltBook(done, out / "_build" / "html", used, built["seconds"])


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: hand the lines over
        session.config.workeroutput["book_builds"] = list(_BOOK_BUILDS)


SCHEDULE_FIRST = ("test_book", "test_class_attacks", "test_class_workflow", "test_notebooks",
                  "test_autograder")
"""The slowest files, first, in the order that gives pytest-xdist's two workers about the same
work: ``--dist loadfile`` deals the first files out in turn (the 1st, 3rd and 5th to the first
worker). The other files follow, to whichever worker is free. (The book's browser tests are in
``test_book.py`` itself, so they never wait for a build running on the other worker.)"""


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SCHEDULE_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).stem, len(rank)))  # stable


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: the controller, as a worker ends
def pytest_testnodedown(node, error):
    _BOOK_BUILDS.extend(getattr(node, "workeroutput", {}).get("book_builds", []))


def pytest_terminal_summary(terminalreporter):
    for line in _BOOK_BUILDS:
        terminalreporter.write_line(line)

