"""The student release (``python -m data_scripts student-release``) and the held-out data view
(:func:`genrelab.dataset.write_student_view`): no solution, no hidden test and no test label ever
reaches a student through the course's tools."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_scripts import student_release
from genrelab import GENRES, dataset

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = {"hidden test": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
          "solution": ("### BEGIN SOLUTION", "### END SOLUTION")}
MIN_LINE = 25  # shorter lines (`return model`, `### END ...`) say nothing about a solution

# Run a module of the release as a student would, on the release's code only: the editable
# install of this repository (a meta-path finder) would otherwise lend the release any module
# it lacks, and hide that it is missing.
ISOLATED = ("import runpy, sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not "
            "in getattr(f, '__name__', type(f).__name__).lower()]; sys.argv[0] = {0!r}; "
            "runpy.run_module({0!r}, run_name='__main__', alter_sys=True)")


def in_release(release, module, *args, **env):
    return subprocess.run([sys.executable, "-c", ISOLATED.format(module), *args], cwd=release,
                          env={**os.environ, "PYTHONPATH": str(release), **env},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return student_release.build(tmp_path_factory.mktemp("release") / "genre-lab")


def test_the_release_holds_what_students_need_and_nothing_of_the_graders(release):
    top = {p.name for p in release.iterdir()}
    assert {"exercises", "genrelab", "data_scripts", "autograder", "README.md", "Makefile",
            "requirements.txt", "requirements-nodeps.txt", "constraints.txt", "pyproject.toml",
            "STUDENT_RELEASE"} <= top
    assert not top & {"solutions", "tests", "book", "course", "data", "_build", ".git",
                      "nbgrader_config.py", "_toc.yml", "_config.yml"}
    assert sorted(p.name for p in (release / "exercises").iterdir()) == sorted(
        p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    assert {p.name for p in (release / "autograder").iterdir()} == set(
        student_release.AUTOGRADER_FILES)  # no results/, grading, demo, sandbox, feedback, ...
    assert not (release / "data_scripts" / "student_release.py").exists()
    everything = [p.relative_to(release) for p in release.rglob("*")]
    assert not [p for p in everything if p.name in ("__pycache__", "results", "solutions")
                or p.suffix in (".keras", ".pyc")]


def test_the_release_is_marked(release):
    assert (release / dataset.RELEASE_MARKER).is_file()
    assert dataset.is_student_release(release) and not dataset.is_student_release(ROOT)


def _blocks(source, begin, end):
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line.strip())
    return lines


def _cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]


def _secret_lines():
    """``{(kind, line): notebook}``: the non-trivial lines of every hidden-test and solution block
    of ``solutions/``, less those the student notebooks show anyway."""
    visible = {line.strip() for path in (ROOT / "exercises").glob("*/*.ipynb")
               for cell in _cells(path) for line in cell.splitlines()}
    secret = {}
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for cell in _cells(path):
            for kind, (begin, end) in BLOCKS.items():
                for line in _blocks(cell, begin, end):
                    if len(line) >= MIN_LINE and line not in visible:
                        secret.setdefault((kind, line), path.relative_to(ROOT))
    return secret


def _consecutive(lines, text_lines):
    """Whether two consecutive lines of a block appear on two consecutive lines of a file."""
    return any(a in x and b in y for a, b in zip(lines, lines[1:])
               for x, y in zip(text_lines, text_lines[1:]))


def test_no_hidden_test_and_no_solution_code_is_in_the_release(release):
    """Every line of a hidden test, and every line of a solution, is absent from every file of
    the release. One allowance: ``genrelab/``, the companion library the book teaches from, shares
    Keras idioms with the solutions (``keras.Input((train_X.shape[1],)),``); a solution line may
    appear there on its own, but never two lines of a solution in a row, and never a hidden-test
    line."""
    secret = _secret_lines()
    assert any(kind == "hidden test" for kind, _ in secret) and any(
        kind == "solution" for kind, _ in secret), "no hidden tests or solutions found to look for"
    files = {}
    for path in release.rglob("*"):
        if path.is_file():
            try:
                files[path.relative_to(release)] = path.read_text()
            except UnicodeDecodeError:
                files[path.relative_to(release)] = path.read_bytes().decode("latin-1")
    leaks = [f"{kind} line of {where} in {rel}: {line}"
             for (kind, line), where in secret.items() for rel, text in files.items()
             if line in text and not (kind == "solution" and rel.parts[0] == "genrelab")]
    assert not leaks, "\n".join(leaks)
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for cell in _cells(path):
            block = [l for l in _blocks(cell, *BLOCKS["solution"]) if len(l) >= MIN_LINE]
            for rel, text in files.items():
                if rel.parts[0] == "genrelab":
                    lines = [l.strip() for l in text.splitlines()]
                    assert not _consecutive(block, lines), f"a solution of {path.name} in {rel}"
    for rel, text in files.items():
        assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text, rel


def test_the_check_tool_runs_in_the_release(release):
    helped = in_release(release, "autograder", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "check" in helped.stdout
    assert not {"grade", "demo", "reference", "report"} & set(
        helped.stdout.split("{")[1].split("}")[0].split(","))
    checked = in_release(release, "autograder", "check", "exercises/sound", "--no-run")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Not checked here: the hidden tests" in checked.stdout
    scripts = in_release(release, "data_scripts", "--help")
    assert scripts.returncode == 0 and "prepare" in scripts.stdout, scripts.stderr
    assert "student-release" not in scripts.stdout.split("{")[1].split("}")[0].split(",")


def test_the_readme_tells_students_how_to_set_up_check_and_what_is_held_out(release):
    text = (release / "README.md").read_text()
    for needed in ("python3 -m venv .venv", "pip install -r requirements.txt -c constraints.txt",
                   "pip install -e .", "python -m data_scripts synthetic",
                   "python -m data_scripts download", "python -m data_scripts prepare",
                   "python -m autograder check exercises/", '"held_out": ["test"]'):
        assert needed in text, needed


def test_a_release_is_never_built_over_what_is_not_one(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a student release"):
        student_release.build(tmp_path)
    with pytest.raises(ValueError, match="cannot be written over or inside"):
        student_release.build(ROOT / "genrelab" / "release")
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_a_release_is_not_built_from_a_release(release):
    with pytest.raises(RuntimeError, match="is a student release itself"):
        student_release.build(release.parent / "again", root=release)


# The held-out view of a prepared data set.

def _track_ids(text):
    """Every GTZAN track id (``blues.00042``) that ``text`` names."""
    return set(re.findall(r"\b[a-z]+\.\d{5}\b", text))


@pytest.fixture(scope="module")
def view(synthetic_data, tmp_path_factory):
    """The synthetic set's view, written twice (the second replaces the first):
    ``(source folder, view folder, test track ids)``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENRELAB_DATA_DIR", str(synthetic_data))
        mp.setenv("GENRELAB_DATASET", "synthetic")
        root = tmp_path_factory.mktemp("view")
        dataset.write_student_view("synthetic", root)
        folder = dataset.write_student_view(None, root)
        source = dataset.prepared_dir()
    splits = pd.read_csv(source / "splits.csv")
    return source, folder, set(splits.track_id[splits.split == "test"])


def test_the_view_names_no_test_track_anywhere(view):
    source, folder, test = view
    assert folder.name == "synthetic" and test
    assert sorted(p.name for p in folder.parent.iterdir()) == ["synthetic"]  # no temp folder left
    assert not (folder / "cache").exists()
    assert {p.name for p in folder.iterdir()} == {p.name for p in source.iterdir()} - {"cache"}
    for path in folder.rglob("*"):
        assert not any(t in path.name for t in test), path
        if path.suffix in (".csv", ".json"):
            assert not _track_ids(path.read_text()) & test, path
        elif path.suffix == ".npz":
            with np.load(path) as f:
                assert not set(f["track_id"]) & test and len(f["X"]) == len(f["track_id"])
    assert len(list((folder / "images").glob("*/*.png"))) == len(
        list((source / "images").glob("*/*.png"))) - len(test)


def test_the_view_keeps_train_and_valid_intact_and_test_empty(view, monkeypatch):
    source, folder, test = view
    monkeypatch.setenv("GENRELAB_DATASET", "synthetic")
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(source.parent.parent))
    full30, full3 = dataset.load_table("30s"), dataset.load_table("3s")
    full_mfcc = dataset.load_segments("mfcc")
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(folder.parent.parent))
    assert dataset.is_student_view() and dataset.held_out_splits() == ("test",)
    info = dataset.dataset_info()
    assert info["held_out"] == ["test"] and "test" not in info["split_counts"]
    assert info["split_counts"] == {k: v for k, v in json.loads(
        (source / "dataset.json").read_text())["split_counts"].items() if k != "test"}
    for kind, full in (("30s", full30), ("3s", full3)):
        table = dataset.load_table(kind)
        assert "test" not in set(table.split)
        for split in ("train", "valid"):
            X, y = dataset.xy(table, split)
            X_full, y_full = dataset.xy(full, split)
            assert len(y) and np.array_equal(X, X_full) and np.array_equal(y, y_full)
        X, y = dataset.xy(table, "test")
        assert X.shape == (0, len(dataset.FEATURE_COLUMNS)) and y.shape == (0,)
    segments = dataset.load_segments("mfcc")
    keep = full_mfcc["split"] != "test"
    for key in ("X", "y", "track_id", "segment", "split"):
        assert np.array_equal(segments[key], full_mfcc[key][keep]), key
    for name in ("features_30_sec.csv", "features_3_sec.csv", "splits.csv"):  # byte for byte
        lines = (source / name).read_text().splitlines()
        assert (folder / name).read_text().splitlines() == [
            line for line in lines if not _track_ids(line.split(",")[0]) & test], name


def test_a_missing_prepared_set_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(tmp_path))
    with pytest.raises(dataset.DataNotFound, match="data_scripts prepare"):
        dataset.write_student_view("synthetic", tmp_path / "view")
    with pytest.raises(TypeError, match="dest_root"):
        dataset.write_student_view("synthetic")


def test_the_view_skips_files_the_prepared_set_lacks(view, tmp_path, monkeypatch):
    source, _, test = view
    partial = tmp_path / "data" / "prepared" / "synthetic"
    partial.mkdir(parents=True)
    for name in ("dataset.json", "splits.csv", "features_30_sec.csv"):
        (partial / name).write_bytes((source / name).read_bytes())
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(tmp_path / "data"))
    folder = dataset.write_student_view("synthetic", tmp_path / "view")
    assert {p.name for p in folder.iterdir()} == {"dataset.json", "splits.csv",
                                                  "features_30_sec.csv"}


# A release's prepare: the test tracks are dropped from the clip index before anything is computed.

def _index(n_per_genre=5):
    ids = [f"{g}.{i:05d}" for g in GENRES for i in range(n_per_genre)]
    return pd.DataFrame({"track_id": ids, "genre": [t.split(".")[0] for t in ids],
                         "path": [f"/nowhere/{t}.wav" for t in ids], "format": "wav"})


def test_hold_out_drops_the_test_tracks_and_keeps_every_other_split():
    from data_scripts.prepare import hold_out
    from genrelab import splits

    index = _index()
    split, _ = splits.default(index, synthetic=True)
    kept, kept_split = hold_out(index, split, ("test",))
    assert "test" not in set(kept_split) and len(kept) == len(kept_split) == (split != "test").sum()
    assert list(kept.track_id) == list(index.track_id[split != "test"])
    assert list(kept_split) == list(split[split != "test"])
    same, same_split = hold_out(index, split, ())
    assert same.equals(index) and list(same_split) == list(split)
    with pytest.raises(ValueError, match="splits for"):
        hold_out(index, split[:-1], ("test",))


def test_prepare_holds_out_test_in_a_release_and_keys_its_cache_apart(tmp_path, monkeypatch):
    import data_scripts.prepare as module

    index = _index()
    assert module.held_out_for() == () and module.held_out_for(["test"]) == ("test",)
    full = module.settings_for(index)
    held = module.settings_for(index, held_out=("test",))
    assert "held_out" not in full and held["held_out"] == ["test"]
    assert module.cache_key(full) != module.cache_key(held)
    (tmp_path / dataset.RELEASE_MARKER).write_text("a release")
    monkeypatch.setattr(dataset, "project_root", lambda: tmp_path)
    assert module.held_out_for() == ("test",) and module.held_out_for(()) == ()


def test_a_release_never_computes_a_test_track(tmp_path, monkeypatch):
    """A small prepare in a release: no test track is decoded, cached, imaged or tabled, and
    every other track keeps the split the full set gives it."""
    import data_scripts.prepare as module
    from data_scripts.synthetic import make_synthetic
    from genrelab import splits

    audio = make_synthetic(tmp_path / "audio", clips_per_genre=3, duration=4, jobs=2)
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / dataset.RELEASE_MARKER).write_text("a release")
    monkeypatch.setattr(dataset, "project_root", lambda: tmp_path / "release")
    out = module.prepare(audio, tmp_path / "data" / "prepared" / "synthetic", workers=2,
                         progress=False)
    index = dataset.index_audio(audio)
    split = pd.Series(splits.default(index, synthetic=True)[0], index=index.track_id)
    test = set(split.index[split == "test"])
    assert len(test) == len(GENRES)  # one of each genre's three
    info = json.loads((out / "dataset.json").read_text())
    assert info["held_out"] == ["test"] and info["clips_held_out"] == len(test)
    assert info["settings"]["held_out"] == ["test"] and "test" not in info["split_counts"]
    recorded = pd.read_csv(out / "splits.csv").set_index("track_id").split
    assert not set(recorded.index) & test and (recorded == split.drop(list(test))).all()
    names = [p.name for p in out.rglob("*")]
    assert not [n for n in names if any(t in n for t in test)]
    for name in ("features_30_sec.csv", "features_3_sec.csv"):
        assert not _track_ids((out / name).read_text()) & test
