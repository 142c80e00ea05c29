"""nbgrader configuration of the Genre Lab course (run nbgrader from the project root).

Source notebooks (reference solutions with hidden tests) live in ``solutions/``, the generated
student versions in ``exercises/``. Everything a class produces -- submissions, autograded copies,
feedback, the gradebook -- goes under ``course/`` (or ``$GENRELAB_COURSE_DIR``), never into git.
"""
import os
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
# A trained model next to a source notebook is an output, not part of the exercise.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "model.keras"]

# Training cells take longer than nbgrader's default 30 s per cell.
c.Execute.timeout = 600
c.ExecutePreprocessor.timeout = 600

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
