"""nbgrader configuration of the Genre Lab course (run nbgrader from the project root).

Source notebooks (reference solutions with hidden tests) live in ``solutions/``, the generated
student versions in ``exercises/``. Everything a class produces -- submissions, autograded copies,
feedback, the gradebook -- goes under ``course/`` (or ``$GENRELAB_COURSE_DIR``), never into git.

Trained models (``model.keras``). A student hands one in, so nbgrader's exchange must carry it:
``nbgrader submit`` and ``nbgrader collect`` copy with ``CourseDirectory.ignore``, which
therefore does not list it. nbgrader's converters copy the other files of an assignment folder
with that same list, and none of them may pass a model on: ``generate_assignment`` (a model left
in ``solutions/<exercise>/`` by running the solution would reach every student),
``release_assignment``, ``autograde`` (it would put the student's model, or the solutions'
one, beside the notebook it runs, so that the grader could no longer tell the model the
student's notebook saves) and ``generate_feedback``. So this file adds ``model.keras`` to
the ignore list when the command it configures is one of those (:data:`NO_MODELS`; it reads
the command from ``nbgrader COMMAND ...`` / ``python -m nbgrader COMMAND ...``); nothing else
needs to pass options for it (``make exercises``, the autograder, the tests). Caveat:
formgrader's buttons run these commands inside the Jupyter server, where this file cannot
tell them apart: there ``model.keras`` is not ignored -- generate and release the exercises
from the command line.

Hidden tests. ``generate_assignment`` removes the ``### BEGIN HIDDEN TESTS`` blocks from the
student versions (nbgrader's ClearHiddenTests); ``autograde`` puts them back to run them, and
``generate_feedback`` clears them again -- the code and the tracebacks of failing hidden tests
-- with :class:`autograder.feedback.ClearHiddenTestsFromFeedback`.

``nbgrader export`` (e.g. ``nbgrader export --to grades.csv`` from the project root) writes one
row per assignment *in the gradebook* and per student *in the gradebook*. An exercise enters the
gradebook when it is generated into this course folder (``make exercises`` generates, and so
registers, every exercise, released or not) or graded (``python -m autograder grade`` adds it to
a fresh course folder); one that is neither has no rows at all. A student without a submission
of a listed exercise gets a row with score 0 and an empty timestamp. Students enter the
gradebook when they are graded (or with ``nbgrader db student add``); ``score`` is the notebook
tests plus the model score the autograder records (tests/test_class_workflow.py checks this).
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader)

ROOT = Path(__file__).resolve().parent
COURSE = Path(os.environ.get("GENRELAB_COURSE_DIR") or ROOT / "course").resolve()
COURSE.mkdir(parents=True, exist_ok=True)

c.CourseDirectory.course_id = "genre-lab"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = str(COURSE / "submitted")
c.CourseDirectory.autograded_directory = str(COURSE / "autograded")
c.CourseDirectory.feedback_directory = str(COURSE / "feedback")
c.CourseDirectory.db_url = f"sqlite:///{COURSE / 'gradebook.db'}"

MODEL_FILES = ["model.keras"]
NO_MODELS = {"generate_assignment", "assign", "release_assignment", "release", "autograde",
             "generate_feedback", "feedback", "generate_solution"}
"""The nbgrader commands that must never copy a trained model (see above)."""
COMMAND = sys.argv[1] if len(sys.argv) > 1 else ""
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            *(MODEL_FILES if COMMAND in NO_MODELS else [])]

# Training cells take longer than nbgrader's default 30 s per cell.
c.Execute.timeout = 600
c.ExecutePreprocessor.timeout = 600

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# nbgrader 0.9.6's GenerateFeedback preprocessors (GetGrades, CSSHTMLHeaderPreprocessor), after
# the one that clears the hidden tests from the feedback.
c.GenerateFeedback.preprocessors = [
    "autograder.feedback.ClearHiddenTestsFromFeedback",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
