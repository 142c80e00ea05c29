"""The nbgrader exercises: each student version in ``exercises/`` is what ``nbgrader
generate_assignment`` makes of its source in ``solutions/``; both are committed without outputs;
the reference solution passes its own tests (``nbgrader validate``, on a student view of the
embedded sample set: its prepared tables without a single test track, as students and the
grader's run of a notebook see them); the student version passes none of them (``nbgrader
validate --invert``); no notebook of a model exercise reads the held-out test split; and the
model the solution saves, graded by the autograder on the test split, reaches the threshold
recorded for the sample set.

The validation tests train models (about a minute each on 2 cores) and share the sample-set
fixture of ``conftest.py`` with the autograder's tests.
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
NBGRADER = Path(sys.executable).with_name("nbgrader")
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir()
                     if p.is_dir() and any(p.glob("*.ipynb")))
MODEL_EXERCISES = [a for a in ASSIGNMENTS if a in EXERCISES and EXERCISES[a].has_model]
VOLATILE_CELL_METADATA = {"execution", "collapsed", "scrolled", "trusted", "jp-MarkdownHeadingCollapsed"}


def nbgrader(*args, cwd, env):
    """Run nbgrader from ``cwd`` (where it finds ``nbgrader_config.py``); stdout and stderr."""
    command = [str(NBGRADER)] if NBGRADER.exists() else [sys.executable, "-m", "nbgrader"]
    # nbgrader calls other tools of its environment (alembic for the gradebook) by name.
    env = {**env, "PATH": os.pathsep.join([str(NBGRADER.parent), env.get("PATH", "")])}
    done = subprocess.run(command + list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1200)
    return done.returncode, done.stdout + done.stderr


def notebooks(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


def comparable(path):
    """A notebook as a comparable structure: cell types, sources and metadata, without the
    fields Jupyter changes by itself (cell ids, execution timings, collapsed state)."""
    nb = json.loads(Path(path).read_text())
    cells = [{"cell_type": c["cell_type"], "source": "".join(c["source"]),
              "metadata": {k: v for k, v in c.get("metadata", {}).items()
                           if k not in VOLATILE_CELL_METADATA}}
             for c in nb["cells"]]
    meta = {k: v for k, v in nb.get("metadata", {}).items() if k in ("kernelspec", "nbgrader")}
    return {"metadata": meta, "cells": cells}


def outputs_of(path):
    nb = json.loads(Path(path).read_text())
    return [(i, c.get("outputs"), c.get("execution_count")) for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]


def test_there_are_exercises():
    assert "mlp" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_notebooks_have_no_outputs(assignment):
    for folder in ("solutions", "exercises"):
        for name in notebooks(ROOT / folder / assignment):
            assert outputs_of(ROOT / folder / assignment / name) == [], (
                f"{folder}/{assignment}/{name} has outputs: clear them before committing")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_is_generated_from_the_source(assignment, tmp_path):
    """Regenerating the exercise from its source, in a throw-away copy of the course, gives the
    committed student version: run ``nbgrader generate_assignment ASSIGNMENT --force`` from the
    project root after editing a source notebook."""
    course = tmp_path / "course-copy"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment,
                    ignore=shutil.ignore_patterns("model.keras", ".ipynb_checkpoints"))
    env = {**os.environ, "GENRELAB_COURSE_DIR": str(tmp_path / "gradebook")}
    rc, out = nbgrader("generate_assignment", assignment, "--force", cwd=course, env=env)
    assert rc == 0, out
    generated, committed = course / "exercises" / assignment, ROOT / "exercises" / assignment
    assert notebooks(generated) == notebooks(committed), "the exercise folder's notebooks differ"
    for name in notebooks(generated):
        assert comparable(committed / name) == comparable(generated / name), (
            f"exercises/{assignment}/{name} is out of date: run "
            f"`nbgrader generate_assignment {assignment} --force` from the project root")


OLD_TEST_SPLIT_NAMES = {"X_test", "y_test", "test_pred", "test_accuracy"}


def reads_of_the_test_split(source):
    """Where a code cell reads the held-out test split: the string ``"test"`` as a value
    anywhere (``dataset.xy(table, "test")``, ``table.split == "test"``, ...) and the names of the
    old contract's test-split variables. One line per finding."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # not plain Python (an IPython magic): the text alone
        return [f"`{m.group(0)}`" for m in re.finditer(
            r"""["']test["']|\b(?:%s)\b""" % "|".join(sorted(OLD_TEST_SPLIT_NAMES)), source)]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value == "test":
            found.append(f'line {node.lineno}: the string "test"')
        elif isinstance(node, ast.Name) and node.id in OLD_TEST_SPLIT_NAMES:
            found.append(f"line {node.lineno}: {node.id}")
    return found


def test_the_test_split_finder_finds_the_old_contract():
    old = 'X_test, y_test = dataset.xy(table, "test")\ntest_accuracy = (test_pred == y_test).mean()'
    assert len(reads_of_the_test_split(old)) == 6
    assert reads_of_the_test_split("%time dataset.xy(table, 'test')") == ["`'test'`"]
    assert reads_of_the_test_split('X_valid, y_valid = dataset.xy(table, "valid")\n'
                                   'print("the test split is held out")') == []


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
@pytest.mark.parametrize("assignment", MODEL_EXERCISES)
def test_model_exercises_never_read_the_test_split(assignment, folder):
    """Students train on train, choose on valid and report the validation accuracy: the test
    split's labels never reach them (their data has no test rows) and only the grader evaluates
    on it. So no code cell of a model exercise -- visible, solution or hidden test -- reads it."""
    found = []
    for name in notebooks(ROOT / folder / assignment):
        nb = json.loads((ROOT / folder / assignment / name).read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                where = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id", i)
                found += [f"{name}, cell {where}, {hit}"
                          for hit in reads_of_the_test_split("".join(cell["source"]))]
    assert not found, (f"{folder}/{assignment} reads the held-out test split (use the validation "
                       f"split, X_valid/y_valid):\n" + "\n".join(found))


@pytest.fixture(scope="session")
def sample_env(request, tmp_path_factory):
    """Environment for nbgrader runs: the embedded sample set only, a throw-away course folder."""
    data = request.getfixturevalue("synthetic_data")  # conftest.py: made and prepared once
    return {**os.environ, "GENRELAB_DATA_DIR": str(data),
            "GENRELAB_AUDIO": str(data / "synthetic"), "GENRELAB_DATASET": "synthetic",
            "GENRELAB_COURSE_DIR": str(tmp_path_factory.mktemp("course")),
            "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


@pytest.fixture(scope="session")
def student_env(sample_env, tmp_path_factory):
    """``sample_env`` with the student view of the sample set's prepared data
    (:func:`genrelab.dataset.write_student_view`, as the grader and a student release hold it)
    as ``GENRELAB_DATA_DIR``: every test track removed from ``splits.csv``, the tables, the
    segment arrays and the images, and ``dataset.json`` saying ``"held_out": ["test"]``;
    ``dataset.xy(table, "test")`` is empty there. The audio (``GENRELAB_AUDIO``, for the sound
    exercise) stays where it is."""
    import pandas as pd

    from genrelab import dataset

    root = tmp_path_factory.mktemp("student-view")
    before = os.environ.get("GENRELAB_DATA_DIR")
    os.environ["GENRELAB_DATA_DIR"] = sample_env["GENRELAB_DATA_DIR"]
    try:
        view = dataset.write_student_view("synthetic", root)
    finally:
        if before is None:
            os.environ.pop("GENRELAB_DATA_DIR")
        else:
            os.environ["GENRELAB_DATA_DIR"] = before
    assert "test" not in set(pd.read_csv(view / "splits.csv").split)
    assert json.loads((view / "dataset.json").read_text())["held_out"] == ["test"]
    return {**sample_env, "GENRELAB_DATA_DIR": str(root)}


def validate(folder, assignment, sample_env, tmp_path_factory, *flags):
    """``nbgrader validate`` on a copy of an exercise folder (so that nothing the notebook writes,
    like model.keras, lands in the project); returns the copy and nbgrader's output."""
    work = tmp_path_factory.mktemp(f"{folder}-{assignment}") / assignment
    shutil.copytree(ROOT / folder / assignment, work,
                    ignore=shutil.ignore_patterns("model.keras", ".ipynb_checkpoints"))
    outputs = []
    for name in notebooks(work):
        rc, out = nbgrader("validate", *flags, str(work / name), cwd=ROOT, env=sample_env)
        assert rc == 0, out
        outputs.append(out)
    return work, "\n".join(outputs)


@pytest.fixture(scope="module")
def validated_solutions(student_env, tmp_path_factory):
    """Each solution, validated where the test split is held out (as the grader runs it)."""
    return {a: validate("solutions", a, student_env, tmp_path_factory) for a in ASSIGNMENTS}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_passes_its_tests(assignment, validated_solutions):
    _, out = validated_solutions[assignment]
    assert "Success! Your notebook passes all the tests." in out, out
    assert "VALIDATION FAILED" not in out, out


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_passes_no_test(assignment, student_env, tmp_path_factory):
    """Every graded test cell fails on the unsolved notebook: no test is empty or trivially true."""
    _, out = validate("exercises", assignment, student_env, tmp_path_factory, "--invert")
    assert "Success! The notebook does not pass any tests." in out, out
    assert "NOTEBOOK PASSED ON" not in out, out


def test_every_exercise_with_a_model_has_a_reference_solution():
    assert set(MODEL_EXERCISES) == {e.name for e in EXERCISES.values() if e.has_model} != set()


@pytest.mark.slow
@pytest.mark.parametrize("assignment", MODEL_EXERCISES)
def test_solution_model_reaches_the_recorded_threshold(assignment, validated_solutions,
                                                       sample_env, monkeypatch):
    """The model.keras that the reference solution saved where the test split was held out,
    graded as the autograder grades it (loaded in Keras' safe mode in a separate, limited
    process; song-level accuracy on the sample set's held-out test split, which the grader
    alone reads), reaches the sample set's threshold recorded in ``autograder/thresholds.json``,
    and so earns full points."""
    for key in ("GENRELAB_DATA_DIR", "GENRELAB_AUDIO", "GENRELAB_DATASET",
                "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS"):
        monkeypatch.setenv(key, sample_env[key])
    monkeypatch.delenv("GENRELAB_THRESHOLDS", raising=False)  # the recorded thresholds
    from autograder.evaluate import evaluate_submission
    from autograder.reference import THRESHOLDS

    recorded = json.loads(THRESHOLDS.read_text())[assignment]["synthetic"]["threshold"]
    work, _ = validated_solutions[assignment]
    result = evaluate_submission(assignment, work, dataset="synthetic")
    assert result.status == "ok", result.message
    assert result.dataset == "synthetic" and result.threshold == recorded
    if EXERCISES[assignment].lower_is_better:  # the autoencoder's error: at or below it
        assert result.value <= recorded, (
            f"the {assignment} solution's model reaches {result.value:.3f} dB on the sample set, "
            f"above the recorded threshold {recorded:.2f} dB")
    else:
        assert result.accuracy >= recorded, (
            f"the {assignment} solution's model reaches {result.accuracy:.3f} on the sample "
            f"set, below the recorded threshold {recorded:.2f}")
    assert result.score == EXERCISES[assignment].points
