"""``python -m autograder grade EXERCISE --submissions DIR [--student NAME] [--workers N]``: grade a
class (a student's own check of one submission is :mod:`autograder.check`).

DIR is laid out as nbgrader's submitted folder, ``DIR/<student>/<exercise>/`` holding the notebook
and the saved model. Every submission is untrusted code and an untrusted model file.

**Once per batch** the grader writes, under ``<course>/work/<exercise>/``: a gradebook holding the
assignment and no student (``template/``), the **held-out view** of the prepared data (train and
valid only, :func:`genrelab.dataset.write_student_view`: the only data a notebook sees) and the
test split's inputs (``test_inputs.npz``, read by every evaluation). It checksums the grader's
code, the thresholds, the prepared data, that view and every submission (:class:`Integrity`).

**For every student**, in a folder of their own (``work/<exercise>/students/<student>/``: its own
copy of the submission and its own gradebook, so that students are graded in parallel, on
``--workers`` threads or on a Dask cluster with ``--scheduler``; :func:`grade_one`):

1. ``nbgrader autograde`` runs the notebook and its tests (hidden ones included), its kernel in a
   **sandbox** (:mod:`autograder.sandbox`: bubblewrap, an unprivileged user of its own, no
   network, nothing but its own folder writable, the course library and the held-out data
   read-only, memory/process/file-size limits, a time limit per cell and per notebook). Without a
   working sandbox grading refuses to start, unless ``--unsafe`` (said in every report);
2. the model that **this run** of the notebook saved is evaluated on the held-out test split in
   the grader's own process (:func:`autograder.evaluate.evaluate_models`, which also checks the
   exercise's structural limits on it): that is the model score. The handed-in model is evaluated
   beside it; a disagreement of more than :data:`DISAGREEMENT` is flagged in the report;
3. the score and its explanation go into the student's gradebook (the manual score and comment
   of the exercise's task cell), then ``nbgrader generate_feedback``.

Then, on the grader's side, one student at a time: the checksums are verified (any change stops
the batch, and nothing of that run is written: :class:`GradingStopped`); the student's grades are
merged into the course's gradebook; the autograded copy and the feedback are copied into the
course (regular files only, never a link the notebook made); ``course/grades/<exercise>.csv``
gets the student's row and ``course/grades/<exercise>/<student>.json`` the details, each written
atomically. A grader killed mid-batch leaves whole rows only; the next run grades the students
whose submission (or the grader) changed since their recorded grading and keeps the others
(``--regrade`` grades everyone again; the result is the same, and no row is ever duplicated).

An exercise without a model (``model_file=None`` in :mod:`autograder.exercises`, e.g. chapter 1's
``sound``) skips step 2 and the model report: its grade is its notebook's test score.

Folders and gradebook come from ``nbgrader_config.py`` (``GENRELAB_COURSE_DIR`` moves the course
folder).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from autograder import exercises, sandbox
from autograder.evaluate import MEMORY_MB, TIMEOUT_S, evaluate_models, save_inputs, threshold_for
from autograder.exercises import GradingSetupError

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
COLUMNS = ["student", "notebook_score", "model_accuracy", "model_lsd", "interval_low",
           "interval_high", "threshold", "model_score", "total", "status", "seconds", "message"]
"""The grades CSV. ``status``: ``ok`` (every point earned), ``partial`` (graded, some points
lost: the message names the test cells), ``error`` (something could not be graded: why).
``model_accuracy`` for a classifier, ``model_lsd`` (dB, lower is better) for chapter 7's
autoencoder; the interval is that measure's."""
UNSAFE = ("UNSAFE: graded without the sandbox (--unsafe): this notebook ran with the grader's "
          "rights.")
DISAGREEMENT = {"accuracy": 0.1, "lsd": 1.0}
"""How far (in accuracy; in dB of log-spectral distance) the handed-in model may be from the one
the grader's run of the notebook trained before the report says so."""


class GradingStopped(GradingSetupError):
    """The batch stopped: files the grading depends on changed while a student was graded."""


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

    def moved_to(self, folder):
        """The same course with its student-side folders and gradebook in ``folder`` (one
        student's work folder)."""
        folder = Path(folder)
        return Course(self.id, f"sqlite:///{folder / 'gradebook.db'}", self.source, self.release,
                      folder / "submitted", folder / "feedback", self.cell_timeout)


def threads_per_student(workers=None):
    """The compute threads each student's kernel gets when ``workers`` students (default: one
    per core) are graded at once on this machine: the cores shared out, at least one. Kernels
    side by side whose thread pools are each as wide as the machine spend CPU time competing
    for the cores. 0 (the libraries' own choice, or the grader's) where the grader's
    environment sets ``TF_NUM_INTRAOP_THREADS``: the sandbox passes that on."""
    if "TF_NUM_INTRAOP_THREADS" in os.environ:
        return 0
    cores = os.cpu_count() or 1
    return max(1, cores // (workers or cores))


def course():
    """The course's folders and gradebook, as ``nbgrader_config.py`` sets them."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    c = config.CourseDirectory
    return Course(c.course_id, c.db_url, ROOT / c.source_directory, ROOT / c.release_directory,
                  Path(c.submitted_directory), Path(c.feedback_directory),
                  config.ExecutePreprocessor.timeout)


def nbgrader(*args, dataset, course_dir=None, env=None, timeout=None):
    """Run an nbgrader command from the project root, where its config is: ``(ok, log)``.
    ``course_dir``: another course folder (``GENRELAB_COURSE_DIR``); ``timeout``: seconds, after
    which the command and everything it started are killed."""
    env = {**os.environ, "GENRELAB_DATASET": dataset, **(env or {}),
           **({"GENRELAB_COURSE_DIR": str(course_dir)} if course_dir else {}),
           # nbgrader sets up a new gradebook with `alembic`, installed beside it
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        return False, (log or "") + (f"\n[nbgrader | ERROR] the notebook ran longer than "
                                     f"{timeout:g} s (the limit of one notebook) and was stopped")
    return proc.returncode == 0, log


def _nbgrader_error(log):
    errors = [line.split("]", 1)[1].strip() for line in log.splitlines() if "| ERROR]" in line]
    return errors[0] if errors else (log.strip().splitlines() or ["no output"])[-1]


def ensure_assignment(course, exercise, dataset, course_dir=None):
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
                       dataset=dataset, course_dir=course_dir)
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


def gradebook_entries(course, exercise, student):
    """One student's submission in a gradebook, as plain data: its timestamp, and every grade
    and comment of every notebook (for :func:`merge_entries`)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course.id) as gb:
        try:
            submission = gb.find_submission(exercise.name, student)
        except MissingEntry:
            return None
        return {"timestamp": submission.timestamp.isoformat() if submission.timestamp else None,
                "notebooks": {nb.name: {
                    "grades": {g.name: {k: getattr(g, k) for k in (
                        "auto_score", "manual_score", "extra_credit", "needs_manual_grade")}
                        for g in nb.grades},
                    "comments": {c.name: {k: getattr(c, k) for k in (
                        "auto_comment", "manual_comment")} for c in nb.comments}}
                    for nb in submission.notebooks}}


def merge_entries(course, exercise, student, entries):
    """Write one student's grades and comments (from :func:`gradebook_entries` of their own
    gradebook) into the course's gradebook, replacing theirs: one submission per student,
    however often they are graded."""
    import datetime

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(course.db_url, course.id) as gb:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            gb.update_or_create_student(student)
            stamp = entries and entries["timestamp"]
            gb.update_or_create_submission(
                exercise.name, student,
                **({"timestamp": datetime.datetime.fromisoformat(stamp)} if stamp else {}))
        for notebook, parts in (entries or {"notebooks": {}})["notebooks"].items():
            args = notebook, exercise.name, student
            for name, values in parts["grades"].items():
                grade = gb.find_grade(name, *args)
                for key, value in values.items():
                    setattr(grade, key, value)
            for name, values in parts["comments"].items():
                comment = gb.find_comment(name, *args)
                for key, value in values.items():
                    setattr(comment, key, value)
        gb.db.commit()
        return gb.find_submission(exercise.name, student).score


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


def copy_regular(src, dest):
    """Copy a folder's regular files and folders (never a symlink, a device or a fifo: a
    submission or a notebook's run may have made them to reach other files)."""
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_symlink():
            continue
        if item.is_dir():
            copy_regular(item, dest / item.name)
        elif item.is_file():
            shutil.copyfile(item, dest / item.name)


def folder_digest(folder):
    """sha256 of a folder's regular files (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class Integrity:
    """Checksums of what grading depends on, taken before a batch and verified after each
    student: the grader's code, the thresholds, the source notebooks and the batch's template
    gradebook (contents, sha256), and the prepared data, its held-out view, the test inputs and
    every submission (size, modification and status-change times: any write, even one that puts
    the old modification time back, changes the status-change time, which no user can set).

    ``linked``: folders of hard links (the audio view, linked to the course's clips) inside the
    watched ones. Their files are checked by size, modification time, inode and mode, not by
    status-change time: that also changes when another link to the same file is made or removed,
    as another batch grading at the same time makes its own view. (The sandbox mounts them
    read-only, and their owner is not the sandbox's user.)"""

    def __init__(self, hashed, watched, batch_files=(), linked=()):
        self.hashed = sorted({Path(p) for p in [*hashed, *batch_files]})
        self.watched = sorted({Path(p) for p in watched})
        self.linked = tuple(Path(p) for p in linked)
        self.batch_files = {str(p) for p in batch_files}  # checked, but made anew each batch
        self.before = self._state()

    def _files(self):
        for root in self.hashed:
            yield from ((p, "sha") for p in ([root] if not root.is_dir() else sorted(
                q for q in root.rglob("*") if q.is_file() and "__pycache__" not in q.parts)))
        for root in self.watched:
            for p in ([root] if not root.is_dir() else sorted(root.rglob("*"))):
                yield p, ("link" if any(p.is_relative_to(q) for q in self.linked) else "stat")

    def _state(self):
        state = {}
        for path, how in self._files():
            try:
                if how == "sha":
                    state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    st = path.lstat()
                    state[str(path)] = ((st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)
                                        if how == "link" else
                                        (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode))
            except OSError:
                state[str(path)] = None
        for root in self.hashed + self.watched:
            state.setdefault(str(root), "absent" if not root.exists() else "folder")
        return state

    @property
    def digest(self):
        """One checksum of the grader's side (code, thresholds, source notebooks)."""
        return hashlib.sha256(json.dumps(
            {k: v for k, v in self.before.items()
             if isinstance(v, str) and k not in self.batch_files}, sort_keys=True).encode()
        ).hexdigest()

    def changed(self):
        """The paths that differ from the checksums taken at the start (added, removed or
        changed)."""
        now = self._state()
        return sorted(p for p in set(now) | set(self.before) if now.get(p) != self.before.get(p))


@dataclass
class Job:
    """One student's grading, as plain data (a Dask worker receives it): see :func:`grade_one`."""
    exercise: str
    student: str
    position: str             # "3/30", for the progress lines
    dataset: str
    submission: str           # the student's submission folder
    work: str                 # the student's work folder (replaced)
    template_db: str          # the gradebook holding the assignment only
    data_root: str            # the held-out view (GENRELAB_DATA_DIR of the notebook)
    inputs: str               # test_inputs.npz, or None for an exercise without a model
    sandboxed: bool
    slot: int                 # the sandbox's user is sandbox.UID_BASE + slot
    limits: dict = field(default_factory=lambda: asdict(sandbox.Limits()))
    eval_timeout: float = TIMEOUT_S
    memory_mb: int = MEMORY_MB
    audio_root: str = None    # the train and valid clips (GENRELAB_AUDIO of the notebook)


def grade_one(job):
    """Grade one student in their own work folder (steps 1 to 3 of this module's doc); touches
    nothing of the course but that folder. Returns ``{row, details, entries, work}``."""
    exercise, base = exercises.get(job.exercise), course()
    steps = Steps(job.position, job.student)
    work = Path(job.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copyfile(job.template_db, work / "gradebook.db")
    here = base.moved_to(work)
    submitted = here.submitted / job.student / exercise.name
    copy_regular(job.submission, submitted)
    limits = sandbox.Limits(**job.limits)
    notes = [] if job.sandboxed else [UNSAFE]
    args = ["autograde", exercise.name, "--student", job.student, "--force",
            f"--Execute.timeout={limits.cell_timeout}"]
    env = {"GENRELAB_DATA_DIR": job.data_root,
           **({"GENRELAB_AUDIO": job.audio_root} if job.audio_root else {})}
    if job.sandboxed:
        # the kernel's Unix sockets: a short path (a socket's path has at most 107 bytes)
        runtime = Path(tempfile.mkdtemp(prefix="genrelab-", dir="/tmp"))
        sandbox.write_kernelspec(work / "jupyter", data_root=job.data_root,
                                 dataset=job.dataset, runtime=runtime,
                                 writable_root=work / "autograded", slot=job.slot,
                                 limits=limits, audio_root=job.audio_root)
        args += [f"--Execute.kernel_name={sandbox.KERNEL_NAME}", "--KernelManager.transport=ipc",
                 f"--KernelManager.ip={runtime / 'kernel'}",
                 f"--KernelManager.connection_file={runtime / 'kernel.json'}"]
        env.update(JUPYTER_PATH=str(work / "jupyter"), JUPYTER_RUNTIME_DIR=str(runtime))
    steps("notebook tests (nbgrader autograde" + (", sandboxed)" if job.sandboxed else
                                                  ", UNSAFE: no sandbox)"))
    try:
        ok, log = nbgrader(*args, dataset=job.dataset, course_dir=work, env=env,
                           timeout=limits.wall_s)
    finally:
        if job.sandboxed:
            shutil.rmtree(runtime, ignore_errors=True)
    if not ok:
        notes.append(f"The notebook could not be autograded: {_nbgrader_error(log)}")
        if "Timeout waiting for" in log:
            notes.append(f"A cell ran longer than the limit ({limits.cell_timeout} s per cell) "
                         "and did not answer when interrupted: the notebook was stopped there.")
    graded_copy = work / "autograded" / job.student / exercise.name
    remarks = notebook_problems(graded_copy / exercise.notebook, submitted / exercise.notebook,
                                [base.release / exercise.name / exercise.notebook,
                                 base.source / exercise.name / exercise.notebook],
                                limits.cell_timeout)
    if not exercise.has_model:
        steps("feedback")
        row, details = _notebook_only(here, exercise, job, notes)
    else:
        steps("models on the held-out test split")
        row, details = _with_model(here, exercise, job, graded_copy, notes)
    row["message"] = " ".join([row.get("message") or "", *remarks]).strip()
    for folder in (submitted, graded_copy):
        row["message"] = relative(row.get("message") or "", folder)
    row["seconds"] = steps.seconds
    return {"row": row, "details": details, "work": str(work),
            "entries": gradebook_entries(here, exercise, job.student)}


def _locked_sources(path):
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return {}
    return {c.metadata.nbgrader["grade_id"]: c.source.strip() for c in nb.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("locked")
            and "grade_id" in c.metadata.nbgrader}


def notebook_problems(notebook, handed_in, originals, cell_timeout=None):
    """Sentences about what the grader's run of a notebook showed outside its test cells: locked
    cells the student changed (unlike every original version: nbgrader ran its own versions of
    them) and the first errors raised
    by the student's own cells (a blank answer's NotImplementedError aside: the tests report
    those), e.g. a cell stopped by the time limit, a memory error, a refused write or connection."""
    import nbformat

    notes = []
    originals = [_locked_sources(p) for p in originals if Path(p).is_file()]
    mine = _locked_sources(handed_in) if Path(handed_in).is_file() else {}
    changed = sorted(cell for cell, source in mine.items()
                     if originals and all(o.get(cell, source) != source for o in originals))
    if changed:
        notes.append(f"You changed the locked cell{'s' if len(changed) > 1 else ''} "
                     f"{', '.join(changed)}: the grader ran the original version of each.")
    try:
        nb = nbformat.read(notebook, as_version=4) if not Path(notebook).is_symlink() else None
    except Exception:
        nb = None
    errors = []
    for number, cell in enumerate(getattr(nb, "cells", []), 1):
        if cell.cell_type != "code" or cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") != "NotImplementedError":
                value = (str(out.get("evalue") or "").strip().splitlines() or [""])[0][:200]
                if out.get("ename") in ("KeyboardInterrupt", "CellTimeoutError"):
                    errors.append(f"cell {number}: stopped at the time limit ({cell_timeout} s "
                                  "per cell)")
                else:
                    errors.append(f"cell {number}: {out.get('ename')}"
                                  + (f": {value}" if value else ""))
                break
    if errors:
        notes.append("Errors in your own cells when the grader ran the notebook: "
                     + "; ".join(errors[:3]) + (" (and more)" if len(errors) > 3 else "") + ".")
    return notes


def _notebook_only(here, exercise, job, notes):
    """An exercise without a model: its grade is the notebook's test score."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(here.db_url, here.id) as gb:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            gb.update_or_create_student(job.student)
            tests = gb.update_or_create_submission(exercise.name, job.student).score
        max_score = gb.find_assignment(exercise.name).max_score
    _feedback(here, exercise, job, notes)
    message = f"Notebook tests: {tests:g} of {max_score:g} points (this exercise has no model)."
    lost = lost_points(here, exercise, job.student)
    errors = [n for n in notes if n != UNSAFE]
    row = {"student": job.student, "notebook_score": tests, "total": tests,
           "status": "error" if errors else "partial" if lost else "ok",
           "message": " ".join(m for m in [
               *[n for n in notes if n == UNSAFE], message,
               tests_message(lost, here, exercise, job.student), *errors] if m)}
    return row, {"confusion": None, "problem": None, "lost_cells": [list(c) for c in lost]}


def _feedback(here, exercise, job, notes):
    ok, log = nbgrader("generate_feedback", exercise.name, "--student", job.student, "--force",
                       dataset=job.dataset, course_dir=Path(job.work))
    if not ok:
        notes.append(f"No feedback was generated: {_nbgrader_error(log)}")


def _with_model(here, exercise, job, graded_copy, notes):
    """Score the model this run of the notebook saved; compare the handed-in one with it."""
    trained = graded_copy / exercise.model_file
    handed = here.submitted / job.student / exercise.name / exercise.model_file
    if trained.is_symlink():
        trained.unlink()
    result, handed_in = evaluate_models(exercise, [trained, handed], job.dataset,
                                        job.eval_timeout, job.memory_mb, inputs=job.inputs)
    if result.problem == "missing":
        result.message = (
            f"Your notebook did not save {exercise.model_file} when the grader ran it (in the "
            f"sandbox, on the train and valid splits), so there is no model to score: the model "
            f"score is that of the {exercise.model_file} your notebook saves when it runs."
            + (f" The {exercise.model_file} you handed in is not graded." if handed.is_file()
               else ""))
    disagreement = compare_models(result, handed_in, exercise)
    tests, total = record(here, exercise, job.student, result)
    _feedback(here, exercise, job, notes)
    lost = lost_points(here, exercise, job.student)
    unsafe = [n for n in notes if n == UNSAFE]
    report = here.feedback / job.student / exercise.name / "model_report.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(f"# {exercise.name}: your model on the held-out test split\n\n"
                      + "".join(f"**{n}**\n\n" for n in unsafe)
                      + "The model scored is the one your notebook saved when the grader ran "
                        "it.\n\n" + result.report()
                      + (f"\n**Check your model file.** {disagreement}\n" if disagreement else ""))
    if disagreement:
        notes.append(disagreement)
    errors = [n for n in notes if n != UNSAFE]
    row = {"student": job.student, "notebook_score": tests, "model_accuracy": result.accuracy,
           "model_lsd": result.lsd, "interval_low": result.low, "interval_high": result.high,
           "threshold": result.threshold, "model_score": result.score, "total": total,
           "status": ("error" if result.status != "ok" or errors
                      else "partial" if lost or result.score < result.points else "ok"),
           "message": " ".join(m for m in [*unsafe, result.message,
                                           tests_message(lost, here, exercise, job.student),
                                           *errors] if m)}
    return row, {"confusion": result.confusion, "problem": result.problem,
                 "lost_cells": [list(c) for c in lost],
                 "handed_in": {"status": handed_in.status, "accuracy": handed_in.accuracy,
                               "lsd": handed_in.lsd, "problem": handed_in.problem}}


def compare_models(graded, handed_in, exercise):
    """A sentence when the handed-in model and the one the grader's run of the notebook saved
    (the graded one) disagree by more than :data:`DISAGREEMENT` in their test measure, or when
    only one of them could be evaluated; else ``""``."""
    name = exercise.model_file
    if graded.status != "ok" or handed_in.problem == "missing":
        return ""
    unit = " dB (log-spectral distance)" if exercise.lower_is_better else ""
    if handed_in.status != "ok":
        return (f"The {name} you handed in could not be evaluated ({handed_in.message}); the "
                f"one your notebook saved when the grader ran it scores {graded.value:.3f}{unit} "
                "and is the one graded.")
    if abs(graded.value - handed_in.value) <= DISAGREEMENT[exercise.metric]:
        return ""
    return (f"The model you handed in scores {handed_in.value:.3f}{unit} on the test split, but "
            f"the model your notebook trained and saved when the grader ran it scores "
            f"{graded.value:.3f}{unit} (that one is graded): hand in the {name} that your "
            "notebook saves.")


def _prepare_batch(exercise, dataset, here, work_root, sandboxed):
    """The batch's template gradebook, held-out data view and test inputs (once per batch)."""
    from genrelab.dataset import DataNotFound, write_student_audio_view, write_student_view

    template = work_root / "template"
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    ensure_assignment(here.moved_to(template), exercise, dataset, course_dir=template)
    prepared = write_student_view(dataset, work_root / "data")
    view = prepared.parents[1]
    if sandboxed:  # the sandbox's users read it
        for path in [view, view / "prepared", prepared, *prepared.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    try:  # the train and valid clips' audio (chapter 1's exercise plays one)
        audio = write_student_audio_view(dataset, view)
    except (DataNotFound, KeyError):
        audio = None
    inputs = (save_inputs(exercise, dataset, work_root / "test_inputs.npz")
              if exercise.has_model else None)
    return template / "gradebook.db", view, audio, inputs


def _previous(here, exercise, student):
    path = here.dir / "grades" / exercise.name / f"{student}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def grade(exercise, submissions, dataset=None, timeout=TIMEOUT_S, memory_mb=MEMORY_MB,
          only=None, workers=None, scheduler=None, unsafe=False, regrade=False, limits=None):
    """Grade every submission of ``exercise`` in ``submissions`` (or the students named in
    ``only``), ``workers`` at a time (default: the machine's cores) or on the Dask scheduler at
    ``scheduler``; returns the grades of those students (a DataFrame). ``<course>/grades/
    <exercise>.csv`` keeps one row per student: a student's new row replaces their earlier one,
    and the others stay. A student whose submission and grader are unchanged since their
    recorded grading keeps it, unless ``regrade``. Raises :class:`GradingSetupError` (or
    :class:`genrelab.dataset.DataNotFound`) for instructor-side problems, before grading anyone,
    and :class:`GradingStopped` when the grader's files changed during the batch."""
    import pandas as pd

    from genrelab.dataset import dataset_info, prepared_dir

    exercise, here = exercises.get(exercise), course()
    if limits is None:
        cell, whole = exercise.time_limits(here.cell_timeout, sandbox.Limits.wall_s)
        limits = sandbox.Limits(cell_timeout=cell, wall_s=whole)
    if not limits.threads and scheduler is None:  # a cluster's cores are not this machine's
        limits = replace(limits, threads=threads_per_student(workers))
    dataset = dataset_info(dataset)["name"]
    if exercise.has_model:
        threshold_for(exercise.name, dataset)
    if not unsafe:
        try:
            version = sandbox.check()
        except sandbox.SandboxUnavailable as err:
            raise GradingSetupError(str(err))
        print(f"sandbox: {version}, one unprivileged user per notebook, no network", flush=True)
    else:
        print(f"WARNING: {UNSAFE} Every report says so.", flush=True)
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
    for student in students:  # the course's copy of each submission, before any checksum
        src, dest = submissions / student / exercise.name, here.submitted / student / exercise.name
        if src.resolve() != dest.resolve():
            shutil.rmtree(dest, ignore_errors=True)
            copy_regular(src, dest)
    work_root = here.dir / "work" / exercise.name
    template_db, view, audio, inputs = _prepare_batch(exercise, dataset, here, work_root, not unsafe)
    thresholds = Path(os.environ.get("GENRELAB_THRESHOLDS") or HERE / "thresholds.json")
    integrity = Integrity(
        hashed=[HERE, ROOT / "genrelab", ROOT / "nbgrader_config.py", thresholds,
                here.source / exercise.name], batch_files=[template_db],
        watched=[prepared_dir(dataset), view, *([inputs] if inputs else []), here.submitted,
                 *([submissions] if submissions.resolve() != here.submitted.resolve() else [])],
        linked=[audio] if audio else [])
    grader = hashlib.sha256(f"{integrity.digest} {dataset} {unsafe}".encode()).hexdigest()
    jobs, kept = [], []
    for i, student in enumerate(students, 1):
        folder = here.submitted / student / exercise.name
        previous = _previous(here, exercise, student)
        digest = folder_digest(folder)
        if (not regrade and previous.get("submission_digest") == digest
                and previous.get("grader_digest") == grader):
            print(f"[{i}/{len(students)}] {student}: unchanged since its grading at "
                  f"{previous.get('graded_at')}, kept (--regrade grades it again)", flush=True)
            kept.append({k: previous.get(k) for k in COLUMNS})
            continue
        jobs.append((digest, Job(exercise.name, student, f"{i}/{len(students)}", dataset,
                                 str(folder), str(work_root / "students" / student),
                                 str(template_db), str(view), str(inputs) if inputs else None,
                                 not unsafe, slot=i, audio_root=str(audio) if audio else None,
                                 limits=asdict(limits),
                                 eval_timeout=timeout, memory_mb=memory_mb)))
    rows = list(kept)
    csv = here.dir / "grades" / f"{exercise.name}.csv"
    lock = threading.Lock()

    def finish(digest, job, outcome):
        with lock:
            changed = integrity.changed()
            if changed:
                raise GradingStopped(
                    f"grading stopped after {job.student}: files the grading depends on changed "
                    f"while their notebook ran ({', '.join(changed[:5])}"
                    f"{', ...' if len(changed) > 5 else ''}). Nothing of that run was written "
                    "to the gradebook or the grades. Restore those files (git checkout, "
                    "`python -m data_scripts prepare`), find out how they changed, and grade "
                    "again: the students already graded are kept.")
            row = _merge(here, exercise, job, outcome, digest, grader)
            write_grades(csv, pd.DataFrame([row], columns=COLUMNS))
            # last: the record that a later run keeps (gradebook and CSV row are written)
            write_details(here.dir / "grades" / exercise.name / f"{job.student}.json",
                          {**row, **outcome.get("details", {}), "submission_digest": digest,
                           "grader_digest": grader})
            rows.append(row)
            print(f"[{job.position}] {job.student}: {row['status']}, "
                  f"{row.get('total', 0) or 0:g} points, {row['seconds']:.1f} s", flush=True)

    _run(jobs, finish, workers, scheduler)
    shutil.rmtree(work_root, ignore_errors=True)
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values("student", kind="stable").reset_index(drop=True)


def _safe_grade_one(job):
    """:func:`grade_one`, turning any failure into the student's error row: whatever one
    submission does, the batch goes on."""
    try:
        return grade_one(job)
    except Exception as err:
        return {"row": {"student": job.student, "status": "error",
                        "message": f"Grading failed: {type(err).__name__}: "
                                   f"{relative(str(err), job.submission)}"},
                "details": {}, "entries": None, "work": job.work}


def _run(jobs, finish, workers, scheduler):
    """Run the jobs on threads (``workers``) or on a Dask cluster (``scheduler``), calling
    ``finish(digest, job, outcome)`` for each as it completes; a :class:`GradingStopped` from
    ``finish`` cancels what has not started."""
    if not jobs:
        return
    if scheduler:
        from dask.distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = {client.submit(_safe_grade_one, job, pure=False,
                                     key=f"grade-{job.exercise}-{job.student}-{time.time_ns()}"):
                       (digest, job) for digest, job in jobs}
            try:
                for future in as_completed(futures):
                    finish(*futures[future], future.result())
            finally:
                client.cancel(list(futures))
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        futures = {pool.submit(_safe_grade_one, job): (digest, job) for digest, job in jobs}
        try:
            for future in as_completed(futures):
                finish(*futures[future], future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _merge(here, exercise, job, outcome, digest, grader):
    """A finished student into the course: gradebook, autograded copy, feedback, details."""
    row, work = outcome["row"], Path(outcome["work"])
    row.setdefault("seconds", None)
    if outcome.get("entries") is not None or row["status"] == "error":
        total = merge_entries(here, exercise, job.student, outcome.get("entries"))
        if outcome.get("entries") is not None:
            row["total"] = total
    for part, dest in (("autograded", here.dir / "autograded"), ("feedback", here.feedback)):
        src = work / part / job.student / exercise.name
        if src.is_dir():
            shutil.rmtree(dest / job.student / exercise.name, ignore_errors=True)
            copy_regular(src, dest / job.student / exercise.name)
    shutil.rmtree(work, ignore_errors=True)
    return row


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
                        help=f"memory limit of one evaluation, and of one notebook's kernel "
                             f"(default {MEMORY_MB})")
    parser.add_argument("--workers", type=int, default=None,
                        help="students graded at once on this machine (default: its cores)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on a Dask cluster (e.g. tcp://10.0.0.5:8786): every worker "
                             "needs this repository, its environment, bubblewrap and the course "
                             "folder at the same paths (a shared filesystem)")
    parser.add_argument("--cell-timeout", type=int, default=None,
                        help="seconds one notebook cell may run (default: the exercise's, else "
                             "nbgrader_config.py's)")
    parser.add_argument("--notebook-timeout", type=int, default=None,
                        help="seconds one whole notebook may run (default: the exercise's, else "
                             f"{sandbox.Limits.wall_s})")
    parser.add_argument("--processes", type=int, default=sandbox.Limits.processes,
                        help="processes and threads a notebook may have (default "
                             f"{sandbox.Limits.processes})")
    parser.add_argument("--file-mb", type=int, default=sandbox.Limits.file_mb,
                        help=f"largest file a notebook may write (default {sandbox.Limits.file_mb})")
    parser.add_argument("--regrade", action="store_true",
                        help="grade again the students whose submission has not changed since "
                             "their recorded grading (by default they are kept)")
    parser.add_argument("--unsafe", action="store_true",
                        help="grade WITHOUT the sandbox (student code then runs with your "
                             "rights); every report says so")


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
    cell, whole = exercises.get(args.exercise).time_limits(course().cell_timeout,
                                                           sandbox.Limits.wall_s)
    limits = sandbox.Limits(memory_mb=args.memory_mb, processes=args.processes,
                            file_mb=args.file_mb, cell_timeout=args.cell_timeout or cell,
                            wall_s=args.notebook_timeout or whole)
    table = grade(args.exercise, args.submissions, args.dataset, args.timeout, args.memory_mb,
                  only=args.student, workers=args.workers, scheduler=args.scheduler,
                  unsafe=args.unsafe, regrade=args.regrade, limits=limits)
    print_summary(table, args.exercise)
    if args.unsafe:
        print(f"WARNING: {UNSAFE}")
