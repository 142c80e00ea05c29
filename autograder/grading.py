"""``python -m autograder grade EXERCISE --submissions DIR``: grade a class, and
``python -m autograder check DIR``: a student's own check of one submission.

DIR is laid out as nbgrader's submitted folder, ``DIR/<student>/<exercise>/`` holding the notebook
and the saved model. For every student -- a broken submission never stops the batch:

1. the submission is copied into the course's ``submitted/`` folder (when DIR is elsewhere);
2. ``nbgrader autograde`` runs the notebook and its tests (hidden ones included): the notebook
   score. A notebook that fails to execute is still recorded, with the points it earned;
3. the saved model is evaluated on the held-out test split
   (:func:`autograder.evaluate.evaluate_submission`);
4. the model score goes into nbgrader's gradebook: the manual score of the exercise's task cell,
   and its comment (accuracy, interval, threshold and where the threshold comes from);
5. ``nbgrader generate_feedback``;
6. ``course/grades/<exercise>.csv`` gets the student's row, and
   ``course/feedback/<student>/<exercise>/model_report.md`` the model's report.

An exercise without a model (``model_file=None`` in :mod:`autograder.exercises`, e.g. chapter 1's
``sound``) skips steps 3 and 4 and the model report: its grade is its notebook's test score.

Folders and gradebook come from ``nbgrader_config.py`` (``GENRELAB_COURSE_DIR`` moves the course
folder). Notebooks run with ``GENRELAB_DATASET`` set to the graded data set, so notebook and grader
see the same data.
"""
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograder import exercises
from autograder.evaluate import MEMORY_MB, TIMEOUT_S, evaluate_submission, threshold_for
from autograder.exercises import GradingSetupError

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
COLUMNS = ["student", "notebook_score", "model_accuracy", "interval_low", "interval_high",
           "threshold", "model_score", "total", "status", "message"]


@dataclass(frozen=True)
class Course:
    id: str
    db_url: str
    source: Path      # nbgrader source notebooks (solutions/)
    release: Path     # the student versions (exercises/)
    submitted: Path
    feedback: Path
    cell_timeout: int  # seconds a notebook cell may run

    @property
    def dir(self):
        """The course folder: ``course/`` or ``$GENRELAB_COURSE_DIR``."""
        return self.submitted.parent


def course():
    """The course's folders and gradebook, as ``nbgrader_config.py`` sets them."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    c = config.CourseDirectory
    return Course(c.course_id, c.db_url, ROOT / c.source_directory, ROOT / c.release_directory,
                  Path(c.submitted_directory), Path(c.feedback_directory),
                  config.ExecutePreprocessor.timeout)


def nbgrader(*args, dataset):
    """Run an nbgrader command from the project root, where its config is: ``(ok, log)``."""
    env = {**os.environ, "GENRELAB_DATASET": dataset,
           # nbgrader sets up a new gradebook with `alembic`, installed beside it
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    return proc.returncode == 0, proc.stdout + proc.stderr


def _nbgrader_error(log):
    errors = [line.split("]", 1)[1].strip() for line in log.splitlines() if "| ERROR]" in line]
    return errors[0] if errors else (log.strip().splitlines() or ["no output"])[-1]


def ensure_assignment(course, exercise, dataset):
    """Make sure the gradebook knows the exercise and its tests (hidden ones included). A fresh
    course folder does not: the assignment is then generated from the source notebook into
    ``<course>/release`` -- never over the committed ``exercises/``."""
    from nbgrader.api import Gradebook, MissingEntry

    if Path(course.db_url.removeprefix("sqlite:///")).is_file():
        with Gradebook(course.db_url, course.id) as gb:
            try:
                gb.find_assignment(exercise.name)
                return
            except MissingEntry:
                pass
    ok, log = nbgrader("generate_assignment", exercise.name, "--force",
                       f"--CourseDirectory.release_directory={course.dir / 'release'}",
                       dataset=dataset)
    if not ok:
        raise GradingSetupError(f"nbgrader could not add {exercise.name} to the gradebook: "
                                f"{_nbgrader_error(log)}")


def record(course, exercise, student, result):
    """Write the model score and its explanation into the gradebook (creating the submission
    where nbgrader could not, e.g. for a submission without its notebook).
    Returns ``(notebook score, total)`` as the gradebook now has them."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    args = exercise.notebook_id, exercise.name, student
    with Gradebook(course.db_url, course.id) as gb:
        with warnings.catch_warnings():  # nbgrader's own add_submission trips SQLAlchemy's
            warnings.simplefilter("ignore", SAWarning)  # autoflush warnings
            gb.update_or_create_student(student)
            gb.update_or_create_submission(exercise.name, student)
        grade = gb.find_grade(exercise.task_id, *args)
        grade.manual_score = result.score
        grade.needs_manual_grade = False
        gb.find_comment(exercise.task_id, *args).manual_comment = result.report()
        gb.db.commit()
        notebook = gb.find_submission_notebook(*args)
        tests = sum(g.score for g in notebook.grades if g.name != exercise.task_id)
        return tests, gb.find_submission(exercise.name, student).score


def grade_notebook_only(course, exercise, student, dataset, notes):
    """Steps 5 and 6 for an exercise without a model, after ``nbgrader autograde``: its grade is
    the notebook's test score. The gradebook gets the submission even where nbgrader could not
    create it (a submission without its notebook)."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(course.db_url, course.id) as gb:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            gb.update_or_create_student(student)
            tests = gb.update_or_create_submission(exercise.name, student).score
        max_score = gb.find_assignment(exercise.name).max_score
    ok, log = nbgrader("generate_feedback", exercise.name, "--student", student, "--force",
                       dataset=dataset)
    if not ok:
        notes.append(f"No feedback was generated: {_nbgrader_error(log)}")
    message = f"Notebook tests: {tests:g} of {max_score:g} points (this exercise has no model)."
    return {"student": student, "notebook_score": tests, "total": tests,
            "status": "error" if notes else "ok", "message": " ".join([message, *notes])}


def grade_student(course, exercise, student, dataset, timeout, memory_mb):
    """Steps 2 to 6 for one student whose submission is in the course's ``submitted/``."""
    notes = []
    ok, log = nbgrader("autograde", exercise.name, "--student", student, "--force",
                       dataset=dataset)
    if not ok:
        notes.append(f"The notebook could not be autograded: {_nbgrader_error(log)}")
    if not exercise.has_model:
        return grade_notebook_only(course, exercise, student, dataset, notes)
    result = evaluate_submission(exercise, course.submitted / student / exercise.name, dataset,
                                 timeout, memory_mb)
    tests, total = record(course, exercise, student, result)
    ok, log = nbgrader("generate_feedback", exercise.name, "--student", student, "--force",
                       dataset=dataset)
    if not ok:
        notes.append(f"No feedback was generated: {_nbgrader_error(log)}")
    report = course.feedback / student / exercise.name / "model_report.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(f"# {exercise.name}: your model on the held-out test split\n\n"
                      + result.report())
    return {"student": student, "notebook_score": tests, "model_accuracy": result.accuracy,
            "interval_low": result.low, "interval_high": result.high,
            "threshold": result.threshold, "model_score": result.score, "total": total,
            "status": "ok" if result.status == "ok" and not notes else "error",
            "message": " ".join([result.message, *notes])}


def grade(exercise, submissions, dataset=None, timeout=TIMEOUT_S, memory_mb=MEMORY_MB):
    """Grade every submission of ``exercise`` in ``submissions``; returns the grades (a
    DataFrame, also written to ``<course>/grades/<exercise>.csv``). Raises
    :class:`GradingSetupError` or :class:`genrelab.dataset.DataNotFound` for instructor-side
    problems only, before grading anyone."""
    import pandas as pd

    from genrelab.dataset import dataset_info

    exercise, here = exercises.get(exercise), course()
    dataset = dataset_info(dataset)["name"]
    if exercise.has_model:
        threshold_for(exercise.name, dataset)
    submissions = Path(submissions)
    students = sorted(p.parent.name for p in submissions.glob(f"*/{exercise.name}") if p.is_dir())
    if not students:
        raise GradingSetupError(f"no submissions of {exercise.name} in {submissions} (expected "
                                f"{submissions}/<student>/{exercise.name}/{exercise.notebook})")
    ensure_assignment(here, exercise, dataset)
    rows = []
    for student in students:
        print(f"grading {student} ...", flush=True)
        src, dest = submissions / student / exercise.name, here.submitted / student / exercise.name
        try:
            if src.resolve() != dest.resolve():
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(src, dest)
            rows.append(grade_student(here, exercise, student, dataset, timeout, memory_mb))
        except Exception as err:  # whatever one submission does, the batch goes on
            rows.append({"student": student, "status": "error",
                         "message": f"Grading failed: {type(err).__name__}: {err}"})
    table = pd.DataFrame(rows, columns=COLUMNS)
    out = here.dir / "grades" / f"{exercise.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table


def add_arguments(parser):
    parser.add_argument("exercise", help=f"one of {', '.join(exercises.EXERCISES)}")
    parser.add_argument("--submissions", type=Path, required=True,
                        help="folder laid out as DIR/<student>/<exercise>/ (e.g. course/submitted)")
    parser.add_argument("--dataset", help="prepared data set (default: the course's)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S,
                        help=f"seconds to evaluate one model (default {TIMEOUT_S})")
    parser.add_argument("--memory-mb", type=int, default=MEMORY_MB,
                        help=f"memory limit of one evaluation (default {MEMORY_MB})")


def print_summary(table, exercise):
    """The grades as a table, each student's message, and where the files are."""
    print(table.drop(columns="message").to_string(index=False, na_rep="-",
                                                  float_format="{:.2f}".format))
    for row in table.itertuples():
        print(f"  {row.student}: {row.message}")
    here = course()
    print(f"grades: {here.dir / 'grades' / (exercise + '.csv')}; "
          f"feedback: {here.feedback}/<student>/{exercise}/")


def main(args):
    table = grade(args.exercise, args.submissions, args.dataset, args.timeout, args.memory_mb)
    print_summary(table, args.exercise)


def add_check_arguments(parser):
    parser.add_argument("folder", type=Path, help="the folder with the notebook and model.keras")
    parser.add_argument("--exercise", help="default: the folder's name")
    parser.add_argument("--dataset", help="prepared data set (default: the course's)")


def check_main(args):
    """The autograder's checks of one submission, as pytest tests."""
    import pytest

    options = [f"--{k}={v}" for k, v in (("submission", args.folder), ("exercise", args.exercise),
                                         ("dataset", args.dataset)) if v]
    return pytest.main([str(HERE / "test_submission.py"), "-p", "no:cacheprovider", "-q",
                        *options])
