"""``python -m autograder grade EXERCISE --submissions DIR [--student NAME]``: grade a class (a
student's own check of one submission is :mod:`autograder.check`).

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
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograder import exercises
from autograder.evaluate import MEMORY_MB, TIMEOUT_S, evaluate_submission, threshold_for
from autograder.exercises import GradingSetupError

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
COLUMNS = ["student", "notebook_score", "model_accuracy", "interval_low", "interval_high",
           "threshold", "model_score", "total", "status", "seconds", "message"]
"""The grades CSV. ``status``: ``ok`` (every point earned), ``partial`` (graded, some points
lost: the message names the test cells), ``error`` (something could not be graded: why)."""


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


def lost_points(course, exercise, student):
    """The graded test cells where the student lost points: ``[(cell, score, max)]``, in the
    notebook's order (the model's task cell excluded: its report explains it)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.id) as gb:
        try:
            notebook = gb.find_submission_notebook(exercise.notebook_id, exercise.name, student)
        except MissingEntry:  # no notebook was handed in
            return []
        return [(g.name, g.score, g.max_score) for g in notebook.grades
                if g.name != exercise.task_id and (g.score or 0) < g.max_score]


def tests_message(lost, course=None, exercise=None, student=None):
    """One sentence naming the test cells that lost points, or ``""``; for a submission without
    its notebook, one saying so (every cell lost its points, and there is no feedback page)."""
    if not lost:
        return ""
    if course and not (course.submitted / student / exercise.name / exercise.notebook).is_file():
        return f"No {exercise.notebook} was handed in: its tests score 0."
    cells = ", ".join(f"{name} ({score or 0:g} of {top:g})" for name, score, top in lost)
    return (f"Notebook tests that lost points: {cells}. The feedback shows each failing test's "
            "message.")


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
    lost = lost_points(course, exercise, student)
    return {"student": student, "notebook_score": tests, "total": tests,
            "status": "error" if notes else "partial" if lost else "ok",
            "message": " ".join(m for m in [message, tests_message(lost, course, exercise, student),
                                            *notes] if m),
            "_details": {"confusion": None, "problem": None,
                         "lost_cells": [list(c) for c in lost]}}


def relative(text, folder):
    """``text`` with the grader's absolute paths of a submission ``folder`` (or of its graded
    copy) made relative to it: a student's report names the files of their own submission, not
    the grader's disk."""
    for path in {str(Path(folder)), str(Path(folder).resolve())}:
        name = "the graded copy" if Path(path).parts[-3:-2] == ("autograded",) else \
            "the submission folder"
        text = text.replace(path + os.sep, "").replace(path, name)
    return text


class Steps:
    """Prints each step of one student's grading with its time: ``[2/30] dave: model ... 4.1 s``."""

    def __init__(self, position, student):
        self.prefix, self.start, self.last = f"[{position}] {student}", time.perf_counter(), None

    def __call__(self, step):
        now = time.perf_counter()
        self.last = now
        print(f"{self.prefix}: {step} (at {now - self.start:.1f} s)", flush=True)

    @property
    def seconds(self):
        return round(time.perf_counter() - self.start, 1)


def grade_student(course, exercise, student, dataset, timeout, memory_mb, steps=None):
    """Steps 2 to 6 for one student whose submission is in the course's ``submitted/``."""
    steps = steps or (lambda step: None)
    notes = []
    steps("notebook tests (nbgrader autograde)")
    ok, log = nbgrader("autograde", exercise.name, "--student", student, "--force",
                       dataset=dataset)
    if not ok:
        notes.append(f"The notebook could not be autograded: {_nbgrader_error(log)}")
    if not exercise.has_model:
        steps("feedback")
        return grade_notebook_only(course, exercise, student, dataset, notes)
    steps("model on the held-out test split")
    folder = course.submitted / student / exercise.name
    result = evaluate_submission(exercise, folder, dataset, timeout, memory_mb)
    result.message = relative(result.message or "", folder)
    tests, total = record(course, exercise, student, result)
    steps("feedback")
    ok, log = nbgrader("generate_feedback", exercise.name, "--student", student, "--force",
                       dataset=dataset)
    if not ok:
        notes.append(f"No feedback was generated: {_nbgrader_error(log)}")
    lost = lost_points(course, exercise, student)
    steps("the model the grader's run of the notebook saved")
    disagreement = compare_with_rerun(course, exercise, student, dataset, result, timeout,
                                      memory_mb)
    report = course.feedback / student / exercise.name / "model_report.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(f"# {exercise.name}: your model on the held-out test split\n\n"
                      + result.report() + (f"\n**Check your model file.** {disagreement}\n"
                                           if disagreement else ""))
    if disagreement:
        notes.append(disagreement)
    return {"student": student, "notebook_score": tests, "model_accuracy": result.accuracy,
            "interval_low": result.low, "interval_high": result.high,
            "threshold": result.threshold, "model_score": result.score, "total": total,
            "status": ("error" if result.status != "ok" or notes
                       else "partial" if lost or result.score < result.points else "ok"),
            "message": " ".join(m for m in [result.message,
                                            tests_message(lost, course, exercise, student),
                                            *notes] if m),
            "_details": {"confusion": result.confusion, "problem": result.problem,
                         "lost_cells": [list(c) for c in lost]}}


DISAGREEMENT = 0.1
"""How far (in accuracy) the handed-in model may be from the one the grader's run of the
notebook trained before the report says so."""


def compare_with_rerun(course, exercise, student, dataset, handed_in, timeout, memory_mb):
    """``nbgrader autograde`` ran the student's notebook, which saved its own model in the
    autograded copy. When that model and the handed-in one disagree by more than
    :data:`DISAGREEMENT`, a sentence saying so; else ``""``."""
    rerun = course.dir / "autograded" / student / exercise.name / exercise.model_file
    submitted = course.submitted / student / exercise.name / exercise.model_file
    if (not rerun.is_file() or handed_in.status != "ok"
            or (submitted.is_file() and rerun.read_bytes() == submitted.read_bytes())):
        return ""  # the grader's run saved no model of its own, or nothing to compare
    again = evaluate_submission(exercise, rerun.parent, dataset, timeout, memory_mb)
    if again.status != "ok" or abs(again.accuracy - handed_in.accuracy) <= DISAGREEMENT:
        return ""
    return (f"The model you handed in scores {handed_in.accuracy:.3f} on the test split, but "
            f"the model your notebook trained and saved when the grader ran it scores "
            f"{again.accuracy:.3f}: hand in the model.keras that your notebook saves.")


def grade(exercise, submissions, dataset=None, timeout=TIMEOUT_S, memory_mb=MEMORY_MB,
          only=None):
    """Grade every submission of ``exercise`` in ``submissions`` (or the students named in
    ``only``); returns the grades of those graded (a DataFrame). ``<course>/grades/<exercise>.csv``
    keeps one row per student: this run's rows replace the same students' earlier rows, and the
    others stay (re-grading a late student leaves the class whole). Raises
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
    if only:
        unknown = sorted(set(only) - set(students))
        if unknown:
            raise GradingSetupError(f"no submission of {exercise.name} by {', '.join(unknown)} "
                                    f"in {submissions}")
        students = [s for s in students if s in set(only)]
    ensure_assignment(here, exercise, dataset)
    rows = []
    for i, student in enumerate(students, 1):
        steps = Steps(f"{i}/{len(students)}", student)
        src, dest = submissions / student / exercise.name, here.submitted / student / exercise.name
        try:
            if src.resolve() != dest.resolve():
                steps("copying the submission")
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(src, dest)
            row = grade_student(here, exercise, student, dataset, timeout, memory_mb, steps)
        except Exception as err:  # whatever one submission does, the batch goes on
            row = {"student": student, "status": "error",
                   "message": f"Grading failed: {type(err).__name__}: {relative(str(err), dest)}"}
        row["seconds"] = steps.seconds
        # Messages (nbgrader's included) name the student's own files, not the grader's disk.
        row["message"] = relative(relative(row.get("message") or "", dest),
                                  here.dir / "autograded" / student / exercise.name)
        details = row.pop("_details", {})
        print(f"[{i}/{len(students)}] {student}: {row['status']}, {row.get('total', 0) or 0:g} "
              f"points, {row['seconds']:.1f} s", flush=True)
        write_details(here.dir / "grades" / exercise.name / f"{student}.json",
                      {**row, **details})
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_grades(here.dir / "grades" / f"{exercise.name}.csv", table)
    return table


def write_details(path, details):
    """One student's grading in full (the CSV row, the per-track confusion matrix, the test
    cells that lost points), for the class report; written atomically."""
    import datetime
    import json

    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in details.items()}
    clean["graded_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(clean, indent=1, default=float) + "\n")
    os.replace(tmp, path)


def write_grades(path, table):
    """Merge ``table`` into the grades CSV at ``path`` by student (its rows replace theirs, the
    others stay), sorted by student, written atomically."""
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        earlier = pd.read_csv(path).reindex(columns=COLUMNS)
        earlier = earlier[~earlier.student.astype(str).isin(set(table.student.astype(str)))]
        table = pd.concat([earlier, table], ignore_index=True) if len(earlier) else table
    table = table.sort_values("student", kind="stable").reset_index(drop=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return table


def add_arguments(parser):
    parser.add_argument("exercise", help=f"one of {', '.join(exercises.EXERCISES)}")
    parser.add_argument("--submissions", type=Path, required=True,
                        help="folder laid out as DIR/<student>/<exercise>/ (e.g. course/submitted)")
    parser.add_argument("--dataset", help="prepared data set (default: the course's)")
    parser.add_argument("--student", action="append", metavar="NAME",
                        help="grade only this student (repeatable), e.g. a late submission; the "
                             "grades CSV keeps everyone else's rows")
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
    table = grade(args.exercise, args.submissions, args.dataset, args.timeout, args.memory_mb,
                  only=args.student)
    print_summary(table, args.exercise)
