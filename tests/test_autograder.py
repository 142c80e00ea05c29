"""The autograder on tiny Keras models built here, graded on a tiny prepared-like data set written
to a temporary folder, against a provisional threshold written for these tests only."""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autograder import __main__ as cli
from autograder import evaluate, exercises
from genrelab import GENRES
from genrelab.features import FEATURE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
TEST_TRACKS_PER_GENRE = 3
PROVISIONAL = {"threshold": 0.5, "chance": 0.1, "rule": "a provisional rule for the tests",
               "provenance": "tests/test_autograder.py, not a measurement"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """``prepared/tiny``: genre ``g``'s tracks have feature ``g`` = 1 and features 0-9 otherwise
    0, so a model reading the first ten features is exactly right."""
    rng = np.random.default_rng(0)
    rows, splits = [], []
    for g, genre in enumerate(GENRES):
        for i, split in enumerate(["train", "valid"] + ["test"] * TEST_TRACKS_PER_GENRE):
            x = rng.normal(size=len(FEATURE_COLUMNS))
            x[:10] = np.eye(10)[g]
            rows.append([f"{genre}.{i:05d}.wav", 661794, *x, genre])
            splits.append([f"{genre}.{i:05d}", genre, split])
    out = tmp_path_factory.mktemp("data") / "prepared" / "tiny"
    out.mkdir(parents=True)
    pd.DataFrame(rows, columns=["filename", "length", *FEATURE_COLUMNS, "label"]).to_csv(
        out / "features_30_sec.csv", index=False)
    pd.DataFrame(splits, columns=["track_id", "genre", "split"]).to_csv(out / "splits.csv",
                                                                       index=False)
    (out / "dataset.json").write_text(json.dumps({"name": "tiny"}))
    return out.parents[1]


@pytest.fixture(autouse=True)
def course(data_dir, tmp_path, monkeypatch):
    """Tiny data, a temporary course folder and a provisional threshold; never the real ones."""
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(data_dir))
    monkeypatch.setenv("GENRELAB_DATASET", "tiny")
    monkeypatch.setenv("GENRELAB_COURSE_DIR", str(tmp_path / "course"))
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"mlp": {"tiny": PROVISIONAL}}))
    monkeypatch.setenv("GENRELAB_THRESHOLDS", str(thresholds))
    return tmp_path / "course"


def dense_model(kernel, bias, n_inputs=len(FEATURE_COLUMNS)):
    import keras

    # standardizes (as an identity here), as the exercises' structural checks require
    model = keras.Sequential([keras.Input((n_inputs,)),
                              keras.layers.Normalization(mean=0.0, variance=1.0),
                              keras.layers.Dense(len(GENRES), activation="softmax")])
    model.layers[-1].set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])
    return model


def good_model():
    """Reads the genre off the first ten features: always right."""
    kernel = np.zeros((len(FEATURE_COLUMNS), len(GENRES)))
    kernel[:10] = 10 * np.eye(10)
    return dense_model(kernel, np.zeros(10))


def bad_model():
    """Always says blues: right for one track in ten."""
    return dense_model(np.zeros((len(FEATURE_COLUMNS), len(GENRES))), np.eye(10)[0])


def lambda_model():
    import keras

    return keras.Sequential([keras.Input((len(FEATURE_COLUMNS),)), keras.layers.Lambda(lambda x: x),
                             keras.layers.Dense(len(GENRES), activation="softmax")])


def submit(tmp_path, model=None, content=None):
    """A submission folder holding ``model`` saved as model.keras, or ``content`` bytes."""
    folder = tmp_path / "mlp"
    folder.mkdir(parents=True, exist_ok=True)
    if model is not None:
        model.save(folder / "model.keras")
    if content is not None:
        (folder / "model.keras").write_bytes(content)
    return folder


def test_score_is_full_at_the_threshold_zero_at_chance_linear_between():
    assert evaluate.score(0.8, 0.5, 0.1, 10) == 10
    assert evaluate.score(0.5, 0.5, 0.1, 10) == 10
    assert evaluate.score(0.3, 0.5, 0.1, 10) == pytest.approx(5)
    assert evaluate.score(0.1, 0.5, 0.1, 10) == 0
    assert evaluate.score(0.0, 0.5, 0.1, 10) == 0


def test_good_model_gets_full_points(tmp_path):
    result = evaluate.evaluate_submission("mlp", submit(tmp_path, good_model()))
    assert result.status == "ok", result.message
    assert result.accuracy == 1.0 and result.n == 10 * TEST_TRACKS_PER_GENRE
    assert result.low < 1.0 == pytest.approx(result.high)
    assert result.score == 10 and result.threshold == 0.5
    report = result.report()
    assert "1.000" in report and "0.50" in report and PROVISIONAL["provenance"] in report


def test_bad_model_scores_zero_below_threshold(tmp_path):
    result = evaluate.evaluate_submission("mlp", submit(tmp_path, bad_model()))
    assert result.status == "ok"
    assert result.accuracy == pytest.approx(0.1) and result.score == 0
    assert "below the threshold 0.50" in result.message


@pytest.mark.parametrize("content, problem, words", [
    (None, "missing", "no model.keras"),
    (b"not a model", "unreadable", "not a Keras model file"),
    (b"PK\x03\x04 a truncated zip", "unreadable", "not a Keras model file"),
])
def test_missing_or_corrupt_file_is_an_error_with_zero_points(tmp_path, content, problem, words):
    result = evaluate.evaluate_submission("mlp", submit(tmp_path, content=content))
    assert (result.status, result.problem, result.score) == ("error", problem, 0)
    assert words in result.message


def test_lambda_layer_is_refused_by_safe_mode(tmp_path):
    result = evaluate.evaluate_submission("mlp", submit(tmp_path, lambda_model()))
    assert (result.status, result.problem) == ("error", "unsafe")
    assert "safe mode" in result.message and "Lambda" in result.message


def test_wrong_input_shape_is_explained(tmp_path):
    model = dense_model(np.zeros((40, 10)), np.zeros(10), n_inputs=40)
    result = evaluate.evaluate_submission("mlp", submit(tmp_path, model))
    assert (result.status, result.problem) == ("error", "shape")
    assert "expects input (None, 57)" in result.message and "(None, 40)" in result.message


def test_nan_outputs_are_an_error(tmp_path):
    model = dense_model(np.zeros((len(FEATURE_COLUMNS), 10)), np.full(10, np.nan))
    result = evaluate.evaluate_submission("mlp", submit(tmp_path, model))
    assert (result.status, result.problem) == ("error", "nan")


def test_timeout_stops_the_evaluation(tmp_path):
    result = evaluate.evaluate_submission("mlp", submit(tmp_path, good_model()), timeout=1)
    assert (result.status, result.problem) == ("error", "timeout")
    assert "longer than 1 s" in result.message


def test_memory_limit_stops_a_model_that_needs_too_much(tmp_path):
    import keras

    # 228 MB per test track, then a convolution: XLA (JAX) would fuse a repeat followed by a
    # mean away; a convolution's output it must hold (256 MB per track).
    hog = keras.Sequential([keras.Input((len(FEATURE_COLUMNS),)),
                            keras.layers.Normalization(mean=0.0, variance=1.0),
                            keras.layers.RepeatVector(1_000_000),
                            keras.layers.Conv1D(64, 3, padding="same"),
                            keras.layers.GlobalAveragePooling1D(),
                            keras.layers.Dense(len(GENRES), activation="softmax")])
    result = evaluate.evaluate_submission("mlp", submit(tmp_path, hog), memory_mb=2000)
    assert (result.status, result.problem) == ("error", "memory")
    assert "out of memory (limit 2000 MiB)" in result.message


def test_unknown_exercise_and_missing_threshold_are_instructor_errors(tmp_path, monkeypatch):
    with pytest.raises(exercises.GradingSetupError, match="unknown exercise 'lstm'"):
        evaluate.evaluate_submission("lstm", tmp_path)
    monkeypatch.setenv("GENRELAB_THRESHOLDS", str(tmp_path / "none.json"))
    with pytest.raises(exercises.GradingSetupError, match="python -m autograder thresholds"):
        evaluate.evaluate_submission("mlp", tmp_path)


@pytest.mark.nbgrader
def test_grade_command_exits_nonzero_only_for_instructor_errors(tmp_path, capsys):
    assert cli.main(["grade", "lstm", "--submissions", str(tmp_path)]) == 2
    assert cli.main(["grade", "mlp", "--submissions", str(tmp_path)]) == 2
    assert cli.main(["grade", "mlp", "--submissions", str(tmp_path), "--dataset", "none"]) == 2
    err = capsys.readouterr().err
    assert "unknown exercise 'lstm'" in err and f"no submissions of mlp in {tmp_path}" in err
    assert "python -m data_scripts prepare" in err


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_check_reports_the_validation_score_and_what_it_cannot_check(tmp_path):
    folder = submit(tmp_path / "good", good_model())
    shutil.copy(ROOT / "exercises" / "mlp" / "mlp.ipynb", folder)
    good = run("-m", "autograder", "check", str(folder), "--no-run")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "validation accuracy 1.000" in good.stdout and "10 validation tracks" in good.stdout
    assert "Full points on the test split at or above 0.50" in good.stdout
    assert "test accuracy" not in good.stdout.lower()  # the test split is the grader's alone
    assert ("Not checked here: the hidden tests (the grader runs them; they can take points that "
            "the visible tests do not); the notebook's tests (--no-run); your model's test-split "
            "score (only the grader evaluates on test).") in good.stdout


def test_check_fails_a_missing_model_and_a_renamed_folder_in_one_line(tmp_path):
    missing = run("-m", "autograder", "check", str(submit(tmp_path / "missing")), "--no-run")
    assert missing.returncode == 1 and "no model.keras" in missing.stdout
    assert "no mlp.ipynb" in missing.stdout
    renamed = tmp_path / "my-homework"
    renamed.mkdir()
    proc = run("-m", "autograder", "check", str(renamed))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {renamed}: name the exercise (--exercise, one of "
        f"{', '.join(exercises.EXERCISES)})"]


@pytest.mark.nbgrader
def test_check_runs_the_notebook_and_fails_an_unsolved_one_beside_a_good_model(tmp_path):
    """The unsolved student notebook next to a model that would score full marks: ``check``
    runs the notebook's tests, as the grader does, and fails it, naming the cells."""
    folder = submit(tmp_path / "unsolved", good_model())
    shutil.copy(ROOT / "exercises" / "mlp" / "mlp.ipynb", folder)
    proc = run("-m", "autograder", "check", str(folder))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "- visible tests: 0 of" in proc.stdout
    assert "NotImplementedError" in proc.stdout and "scores 0 of" in proc.stdout
    assert "validation accuracy 1.000" in proc.stdout  # the model itself is fine
    assert sorted(p.name for p in folder.iterdir()) == ["mlp.ipynb", "model.keras"]  # a copy ran


@pytest.mark.nbgrader
@pytest.mark.parametrize("source, solved", [("solutions", True), ("exercises", False)])
def test_check_scores_an_exercise_without_a_model_on_its_notebook(tmp_path, source, solved):
    folder = tmp_path / source / "sound"
    shutil.copytree(ROOT / source / "sound", folder)
    proc = run("-m", "autograder", "check", str(folder))
    assert proc.returncode == (0 if solved else 1), proc.stdout + proc.stderr
    assert "this exercise has no model" in proc.stdout
    top = proc.stdout.split("- visible tests: ")[1].split(" points")[0]
    got, of = top.split(" of ")
    assert (got == of) if solved else (got == "0"), proc.stdout


def quiz_notebook(solved=True, body=None):
    """A tiny nbgrader source notebook without a model: one answer cell, two graded test cells
    (2 points, and 1 point with a hidden test). ``body``: the body of ``add``, for a partly
    right student."""
    import nbformat

    def meta(grade_id, solution=False, points=None):
        m = {"grade": points is not None, "grade_id": grade_id, "locked": not solution,
             "schema_version": 3, "solution": solution, "task": False}
        return {"nbgrader": {**m, "points": points} if points is not None else m}

    answer = ("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
              if solved else "def add(a, b):\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    if body:
        answer = f"def add(a, b):\n    {body}"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A quiz without a model"),
                nbformat.v4.new_code_cell(answer, metadata=meta("add", solution=True)),
                nbformat.v4.new_code_cell("assert add(1, 2) == 3", metadata=meta("test_add", points=2)),
                nbformat.v4.new_code_cell("assert add(0, 0) == 0\n### BEGIN HIDDEN TESTS\n"
                                          "assert add(-4, 10) == 6\n### END HIDDEN TESTS",
                                          metadata=meta("test_add_hidden", points=1))]
    return nb


@pytest.mark.nbgrader
def test_an_exercise_without_a_model_is_graded_on_its_notebook_tests(tmp_path, quiz, course):
    """``grade`` for an exercise with ``model_file=None`` (like chapter 1's ``sound``): nbgrader
    autograde, gradebook, feedback and the grades CSV, no model step and no threshold needed --
    in a throw-away copy of the course layout holding a tiny quiz assignment."""
    from autograder import grading
    from nbgrader.api import Gradebook

    quiz("solved")
    quiz("blank", quiz_notebook(solved=False))
    submissions = quiz("half", quiz_notebook(body="return a + b if a >= 0 else 0"))  # fails the
    (submissions / "missing" / "quiz").mkdir(parents=True)                           # hidden test

    grades = grading.grade("quiz", submissions).set_index("student")
    assert grades.loc["half", "notebook_score"] == 2 and grades.loc["half", "status"] == "partial"
    assert ("Notebook tests that lost points: test_add_hidden (0 of 1)"
            in grades.loc["half", "message"])
    assert "test_add (" not in grades.loc["half", "message"]
    assert (grades.seconds > 0).all()
    # Re-grading one student (a late submission) keeps everyone's row in the CSV.
    before = pd.read_csv(course / "grades" / "quiz.csv")
    assert list(before.student) == ["blank", "half", "missing", "solved"]
    late = grading.grade("quiz", submissions, only=["blank"])
    assert list(late.student) == ["blank"]
    after = pd.read_csv(course / "grades" / "quiz.csv")
    assert list(after.student) == ["blank", "half", "missing", "solved"]
    assert after.set_index("student").drop(index="blank").drop(columns="seconds").equals(
        before.set_index("student").drop(index="blank").drop(columns="seconds"))
    with pytest.raises(exercises.GradingSetupError, match="no submission of quiz by nobody"):
        grading.grade("quiz", submissions, only=["nobody"])
    assert (grades.loc["solved", ["notebook_score", "total"]] == 3).all()
    assert grades.loc["solved", "status"] == "ok", grades.loc["solved", "message"]
    assert "3 of 3 points" in grades.loc["solved", "message"]
    assert (grades.loc["blank", ["notebook_score", "total"]] == 0).all()
    assert grades.loc["missing", "total"] == 0 and grades.loc["missing", "status"] == "error"
    assert "No quiz.ipynb was handed in: its tests score 0." in grades.loc["missing", "message"]
    assert "lost points" not in grades.loc["missing", "message"]
    assert str(tmp_path) not in " ".join(grades.message)  # no path of the grader's disk
    assert grades[["model_accuracy", "model_score"]].isna().all().all()
    assert (course / "grades" / "quiz.csv").is_file()
    assert (course / "feedback" / "solved" / "quiz" / "quiz.html").is_file()
    assert not (course / "feedback" / "solved" / "quiz" / "model_report.md").exists()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genre-lab") as gb:
        assert gb.find_submission("quiz", "solved").score == 3
    with pytest.raises(exercises.GradingSetupError, match="has no model"):
        evaluate.evaluate_submission("quiz", submissions / "solved" / "quiz")


def test_the_features_exercise_is_graded_like_the_mlp(tmp_path, monkeypatch):
    """The chapter 2 baseline takes the same raw 57 features: the grader scores it the same way."""
    thresholds = tmp_path / "features-thresholds.json"
    thresholds.write_text(json.dumps({"features": {"tiny": PROVISIONAL}}))
    monkeypatch.setenv("GENRELAB_THRESHOLDS", str(thresholds))
    folder = tmp_path / "features"
    folder.mkdir()
    good_model().save(folder / "model.keras")
    result = evaluate.evaluate_submission("features", folder)
    assert (result.status, result.accuracy, result.score) == ("ok", 1.0, 10)
    assert exercises.get("features").expected_shapes == ((None, 57), (None, 10))


BACKEND_NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1764581234.123456  4242 cpu_feature_guard.cc:210] This TensorFlow binary is "
    "optimized to use available CPU instructions\n"
    "WARNING:jax._src.xla_bridge:An NVIDIA GPU may be present on this machine, but a "
    "CUDA-enabled jaxlib is not installed. Falling back to cpu.\n"
    "/venv/lib/python3.12/site-packages/torch/cuda/__init__.py:61: UserWarning: CUDA "
    "initialization: Found no NVIDIA driver on your system.\n"
    "  warnings.warn(\n")


@pytest.mark.parametrize("backend, stderr", [
    ("tensorflow", "W tensorflow/core/framework/op_kernel.cc:1839] OP_REQUIRES failed: "
                   "RESOURCE_EXHAUSTED: OOM when allocating tensor with shape[40,1000000,57]"),
    ("jax", "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while "
            "trying to allocate 9120000000 bytes."),
    ("torch", "RuntimeError: [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: "
              "can't allocate memory: you tried to allocate 9120000000 bytes."),
    ("torch", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 8.49 GiB"),
    ("numpy", "numpy._core._exceptions._ArrayMemoryError: Unable to allocate 8.49 GiB for an "
              "array with shape (40, 1000000, 57)\nMemoryError"),
])
def test_out_of_memory_is_recognised_on_every_backend(backend, stderr):
    problem = evaluate.diagnose(1, BACKEND_NOISE + "Traceback (most recent call last):\n"
                                + stderr + "\n", memory_mb=2000)
    assert (problem.problem, problem.message) == (
        "memory", "evaluating the model ran out of memory (limit 2000 MiB)"), backend


def test_a_crash_is_reported_by_its_error_line_whatever_a_backend_logs_after_it():
    stderr = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
              "ValueError: the weights file is empty\n" + BACKEND_NOISE)
    problem = evaluate.diagnose(1, stderr)
    assert problem.problem == "crash"
    assert problem.message == ("evaluating the model crashed (exit status 1): "
                               "ValueError: the weights file is empty")
    assert evaluate.diagnose(-9, "").problem == "memory"  # the kernel's OOM killer
    assert evaluate.diagnose(-11, BACKEND_NOISE).message == (
        "evaluating the model crashed (killed by signal SIGSEGV)")


def test_a_model_unlike_the_one_the_notebook_saved_is_flagged(tmp_path):
    """The graded model is the one the grader's run of the notebook saved; a handed-in model far
    from it (here: always blues, against always right) is flagged, one close to it is not."""
    from autograder import grading

    exercise = exercises.get("mlp")
    trained = evaluate.evaluate_submission("mlp", submit(tmp_path / "run", good_model()))
    handed_in = evaluate.evaluate_submission("mlp", submit(tmp_path / "handed", bad_model()))
    assert grading.compare_models(trained, handed_in, exercise) == (
        "The model you handed in scores 0.100 on the test split, but the model your notebook "
        "trained and saved when the grader ran it scores 1.000 (that one is graded): hand in "
        "the model.keras that your notebook saves.")
    assert grading.compare_models(trained, trained, exercise) == ""
    broken = evaluate.evaluate_submission("mlp", submit(tmp_path / "broken", content=b"PK"))
    assert "could not be evaluated" in grading.compare_models(trained, broken, exercise)
    missing = evaluate.evaluate_submission("mlp", tmp_path / "nothing")
    assert grading.compare_models(trained, missing, exercise) == ""


@pytest.fixture
def quiz(tmp_path, monkeypatch):
    """The quiz assignment (no model) in a throw-away copy of the course layout; returns a
    function writing a student's notebook into the submissions folder."""
    import nbformat

    from autograder import grading

    project = tmp_path / "project"
    (project / "solutions" / "quiz").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", project)
    nbformat.write(quiz_notebook(), project / "solutions" / "quiz" / "quiz.ipynb")
    monkeypatch.setattr(grading, "ROOT", project)
    monkeypatch.setitem(exercises.EXERCISES, "quiz", exercises.Exercise("quiz", "quiz.ipynb"))
    monkeypatch.setenv("GENRELAB_THRESHOLDS", str(tmp_path / "none.json"))
    (tmp_path / "none.json").write_text("{}")
    submissions = tmp_path / "submissions"

    def hand_in(student, nb=None, before=()):
        nb = nb or quiz_notebook()
        for k, code in enumerate(before):
            nb.cells.insert(1 + k, nbformat.v4.new_code_cell(code))
        (submissions / student / "quiz").mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, submissions / student / "quiz" / "quiz.ipynb")
        return submissions

    return hand_in


@pytest.mark.nbgrader
def test_grading_refuses_to_start_without_a_sandbox_unless_told_unsafe(quiz, monkeypatch,
                                                                       course):
    from autograder import grading, sandbox

    submissions = quiz("solved")
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    with pytest.raises(exercises.GradingSetupError, match="bubblewrap is not installed.*--unsafe"):
        grading.grade("quiz", submissions)
    assert not (course / "grades" / "quiz.csv").exists()
    grades = grading.grade("quiz", submissions, unsafe=True)
    assert grades.loc[0, "message"].startswith(grading.UNSAFE)
    assert grades.loc[0, "notebook_score"] == 3


@pytest.mark.nbgrader
def test_a_notebook_that_changes_the_graders_files_stops_the_batch(quiz, course, tmp_path):
    """Without the sandbox (``--unsafe``) a notebook can rewrite the thresholds; the checksums
    see it, the batch stops, and nothing of that run reaches the gradebook or the grades."""
    from autograder import grading
    from nbgrader.api import Gradebook

    quiz("a-tamper", before=["import os\nopen(os.environ['GENRELAB_THRESHOLDS'], 'w')"
                             ".write('{\"quiz\": 0.0}')"])
    submissions = quiz("b-solved")
    with pytest.raises(grading.GradingStopped, match="grading stopped after a-tamper.*none.json"):
        grading.grade("quiz", submissions, unsafe=True, workers=1)
    assert not (course / "grades" / "quiz.csv").exists()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genre-lab") as gb:
        assert gb.find_assignment("quiz").submissions == []


@pytest.mark.nbgrader
def test_an_interrupted_batch_is_finished_by_the_next_run(quiz, course, monkeypatch):
    """A grader stopped between two students leaves whole rows; the next run grades the rest
    and keeps (does not re-run) those already graded (tests/test_class_attacks.py re-grades one
    student with --regrade: same grade, no second row)."""
    from autograder import grading

    quiz("ann")
    submissions = quiz("cid", quiz_notebook(solved=False))
    merge, calls = grading._merge, []

    def killed_after_one(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt  # the instructor's Ctrl-C (or a crash) mid-batch
        calls.append(1)
        return merge(*args, **kwargs)

    monkeypatch.setattr(grading, "_merge", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        grading.grade("quiz", submissions, workers=1)
    first = pd.read_csv(course / "grades" / "quiz.csv")
    assert len(first) == 1
    monkeypatch.setattr(grading, "_merge", merge)
    done = grading.grade("quiz", submissions, workers=2).set_index("student")
    assert list(done.index) == ["ann", "cid"]
    kept = json.loads((course / "grades" / "quiz" / f"{first.student[0]}.json").read_text())
    assert (done.loc[first.student[0], "seconds"] == first.seconds[0]), "re-run, not kept"
    assert done.notebook_score.tolist() == [3, 0] and kept["status"] == "ok"
    table = pd.read_csv(course / "grades" / "quiz.csv")
    assert table.student.tolist() == ["ann", "cid"]


@pytest.mark.nbgrader
def test_a_class_is_graded_on_a_dask_cluster(quiz, course):
    """``--scheduler ADDRESS``: the same grading, fanned out by Dask distributed (here a local
    cluster in this process; on a real one, the workers share the course folder's path)."""
    from dask.distributed import LocalCluster

    from autograder import grading

    quiz("solved")
    submissions = quiz("blank", quiz_notebook(solved=False))
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        grades = grading.grade("quiz", submissions, scheduler=cluster.scheduler_address)
    assert grades.set_index("student").notebook_score.to_dict() == {"blank": 0, "solved": 3}
    assert len(pd.read_csv(course / "grades" / "quiz.csv")) == 2


def test_integrity_sees_writes_but_not_another_batchs_links_to_the_same_clips(tmp_path):
    """The audio view is hard links to the course's clips. Another batch grading at the same time
    links the same files into its own view, which changes their status-change time: not a change
    of what this batch depends on. A write to a clip, or a changed watched file, still is."""
    import os
    import time

    from autograder.grading import Integrity

    clips, view = tmp_path / "clips", tmp_path / "view"
    (view / "audio").mkdir(parents=True)
    clips.mkdir()
    (clips / "a.wav").write_bytes(b"RIFF....")
    os.link(clips / "a.wav", view / "audio" / "a.wav")
    (view / "splits.csv").write_text("track_id,split\n")
    integrity = Integrity(hashed=[], watched=[view], linked=[view / "audio"])
    time.sleep(0.01)
    os.link(clips / "a.wav", tmp_path / "another-batchs-view.wav")  # the status-change time moves
    assert integrity.changed() == []
    with open(clips / "a.wav", "ab") as clip:  # the content changes
        clip.write(b"x")
    assert integrity.changed() == [str(view / "audio" / "a.wav")]
    strict = Integrity(hashed=[], watched=[view])  # outside the linked folders: ctime counts
    os.utime(view / "splits.csv", ns=(0, (view / "splits.csv").stat().st_mtime_ns))
    assert strict.changed() == [str(view / "splits.csv")]


def test_students_graded_side_by_side_share_the_cores_out_as_thread_pools(monkeypatch, tmp_path):
    """``--workers N`` on C cores: each sandboxed kernel gets TensorFlow and OpenMP pools of C // N
    threads (at least one); a grader whose environment sets ``TF_NUM_INTRAOP_THREADS`` keeps its
    own choice, which the sandbox passes on."""
    from autograder import grading, sandbox

    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert grading.threads_per_student(2) == 4 and grading.threads_per_student(16) == 1
    assert grading.threads_per_student() == 1  # one student per core by default
    config = {"bwrap": "/usr/bin/bwrap", "library": str(tmp_path), "data_root": str(tmp_path),
              "dataset": "synthetic", "runtime": str(tmp_path), "writable_root": str(tmp_path),
              "slot": 0, "audio_root": None}

    def env_of(limits):
        args = sandbox.command({**config, "limits": asdict(limits)}, tmp_path, ["python"])
        return {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--setenv"}

    env = env_of(sandbox.Limits(threads=4))
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == "4"
    assert "TF_NUM_INTRAOP_THREADS" not in env_of(sandbox.Limits())
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "3")
    assert grading.threads_per_student(2) == 0
    assert env_of(sandbox.Limits())["TF_NUM_INTRAOP_THREADS"] == "3"
