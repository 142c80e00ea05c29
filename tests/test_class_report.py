"""The instructor's class report (``python -m autograder report``), on a hand-made graded class:
a grades CSV, the per-student details and a gradebook made with nbgrader's API -- no grading
runs, so the test takes seconds."""
import csv
import json
import os
import re
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder import class_report, grading
from autograder.exercises import GradingSetupError
from genrelab import GENRES

ROOT = Path(__file__).resolve().parents[1]
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}


class Page(HTMLParser):
    """The page's tables per section (the ``id`` of the ``h2`` above them), the ``src``/``href``
    of every tag, its text, and whether every tag it opened was closed in order."""

    def __init__(self):
        super().__init__()
        self.stack, self.problems, self.links, self.text = [], [], [], []
        self.tables, self.section, self.row, self.cell = {}, "top", None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [(tag, attrs[a]) for a in ("src", "href") if a in attrs]
        if tag == "h2":
            self.section = attrs.get("id", "?")
        if tag == "table":
            self.tables.setdefault(self.section, []).append([])
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag in ("td", "th") and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr":
            self.tables[self.section][-1].append(self.row)
            self.row = None

    def handle_data(self, data):
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)


def parse(text):
    page = Page()
    page.feed(text)
    page.close()
    assert not page.problems and not page.stack, (page.problems, page.stack)
    page.text = " ".join("".join(page.text).split())
    return page


def confusion(correct, mistakes=()):
    """A 10x10 matrix: ``correct`` on the diagonal, plus ``(true, predicted, count)``."""
    matrix = [[correct if i == j else 0 for j in range(len(GENRES))] for i in range(len(GENRES))]
    for true, said, count in mistakes:
        matrix[GENRES.index(true)][GENRES.index(said)] += count
    return matrix


# student: (notebook, model score, total, status, message, confusion, lost cells)
CLASS = {
    "ann": (10, 10, 20, "ok", "", confusion(5), []),
    "bob": (6, 10, 16, "partial", "tests lost points", confusion(4, [("rock", "metal", 3)]),
            [["test_scaler", 0, 2], ["test_split", 0, 2]]),
    "cat": (8, 5, 13, "partial", "tests lost points", confusion(3, [("rock", "metal", 2),
                                                                    ("disco", "pop", 1)]),
            [["test_scaler", 1, 2]]),
    "dan": (10, 0, 10, "error", "model.keras could not be loaded: truncated file", None, []),
    "eve": (10, 10, 20, "ok", "", confusion(5), []),
}
ROSTER = [*CLASS, "fay"]
DUE = "2026-03-01 17:00:00"
HANDED_IN = {"ann": "2026-03-01 09:00:00", "bob": "2026-03-01 16:59:00",
             "cat": "2026-03-01 12:00:00", "dan": "2026-02-28 20:00:00",
             "eve": "2026-03-01 19:30:00"}  # eve: 2 h 30 min late; fay: nothing


def make_class(course, monkeypatch):
    """Write the graded class into the course folder ``course``."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    # a new gradebook runs `alembic`, installed beside nbgrader
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent),
                                                os.environ.get("PATH", "")]))
    grades = course / "grades"
    (grades / "mlp").mkdir(parents=True)
    with open(grades / "mlp.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=grading.COLUMNS)
        writer.writeheader()
        for student, (nb, model, total, status, message, matrix, lost) in CLASS.items():
            row = {"student": student, "notebook_score": nb, "model_score": model,
                   "model_accuracy": "" if matrix is None else 0.5, "interval_low": "",
                   "interval_high": "", "threshold": 0.4, "total": total, "status": status,
                   "seconds": 3.0, "message": message}
            writer.writerow(row)
            (grades / "mlp" / f"{student}.json").write_text(json.dumps(
                {**row, "confusion": matrix, "problem": None, "lost_cells": lost,
                 "graded_at": "2026-03-02T10:00:00+00:00"}))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genre-lab") as gb:
        gb.add_assignment("mlp", duedate=f"{DUE} UTC")
        for student in ROSTER:
            gb.add_student(student)
        with warnings.catch_warnings():  # nbgrader's add_submission trips SQLAlchemy's
            warnings.simplefilter("ignore", SAWarning)  # autoflush warnings
            for student, moment in HANDED_IN.items():
                gb.add_submission("mlp", student, timestamp=f"{moment} UTC")


def test_class_report_has_every_section_with_the_class_numbers(tmp_path, monkeypatch):
    course = tmp_path / "course"
    make_class(course, monkeypatch)
    env = {**os.environ, "GENRELAB_COURSE_DIR": str(course)}
    done = subprocess.run([sys.executable, "-m", "autograder", "report", "mlp"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    path = course / "reports" / "mlp.html"
    assert f"class report: {path}" in done.stdout
    text = path.read_text()
    page = parse(text)

    # self-contained: every image is embedded, nothing is fetched
    assert not [(tag, url) for tag, url in page.links if not url.startswith(("data:", "#"))]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    images = [url for tag, url in page.links if tag == "img"]
    assert len(images) == 2 and all(u.startswith("data:image/png;base64,") for u in images)

    # summary: totals 20, 16, 13, 10, 20
    assert "5 students graded; total mean 15.8, median 16.0" in page.text
    assert "2 ok, 2 partial, 1 error" in page.text

    scores = {row[0]: row for row in page.tables["scores"][0][1:]}
    assert scores["total"][1:] == ["5", "10", "16", "15.8", "20"]
    assert scores["model"][1:] == ["5", "0", "10", "7", "10"]

    assert "Of 5 students graded, how many lost points on each test cell" in page.text
    cells = page.tables["cells"][0][1:]
    assert cells[0][:2] == ["test_scaler", "2"] and cells[0][3] == "3"  # most-failed first
    assert cells[1][:2] == ["test_split", "1"]

    # pooled confusion: ann 5 + bob 4 + cat 3 + eve 5 on the diagonal; dan's model has none
    matrix = {row[0]: row[1:] for row in page.tables["confusion"][0][1:]}
    rock, disco = GENRES.index("rock"), GENRES.index("disco")
    assert matrix["blues"][0] == "17"
    assert matrix["rock"][GENRES.index("metal")] == "5" and matrix["rock"][rock] == "17"
    assert matrix["disco"][GENRES.index("pop")] == "1" and matrix["disco"][disco] == "17"
    assert matrix["rock"][-1] == f"{17 / 22:.0%}"  # recall
    assert "The sum of 4 students' confusion matrices" in page.text
    assert "176 predictions, 170 correct" in page.text
    assert "rock taken for metal (5)" in page.text

    # late and missing
    assert "Due date: 2026-03-01 17:00 UTC" in page.text
    late, missing = page.tables["late"]
    assert late[1:] == [["eve", "2026-03-01 19:30 UTC", "2026-03-01 17:00 UTC", "2 h 30 min"]]
    assert missing[1:] == [["fay"]]
    assert "1 of the roster's 6 students handed in nothing" in page.text

    errors = page.tables["errors"][0][1:]
    assert errors == [["dan", "model.keras could not be loaded: truncated file"]]


def test_class_report_of_an_exercise_without_a_model(tmp_path, monkeypatch):
    """``sound`` has no model: no model scores, no confusion matrix; without a gradebook the
    page says what it cannot know. ``--out`` chooses the file."""
    course = tmp_path / "course"
    (course / "grades").mkdir(parents=True)
    with open(course / "grades" / "sound.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=grading.COLUMNS)
        writer.writeheader()
        writer.writerow({"student": "ann", "notebook_score": 8, "total": 8, "status": "partial"})
    monkeypatch.setenv("GENRELAB_COURSE_DIR", str(course))
    out = class_report.report("sound", tmp_path / "elsewhere" / "sound.html")
    assert out == tmp_path / "elsewhere" / "sound.html"
    page = parse(out.read_text())
    assert "1 student graded; total mean 8.0, median 8.0" in page.text
    assert "This exercise has no model: nothing to pool." in page.text
    assert "No gradebook yet" in page.text
    assert "Neither the grading details nor the gradebook say which test cells" in page.text
    assert "model" not in {row[0] for row in page.tables["scores"][0]}
    assert not (course / "gradebook.db").exists()  # the report never creates one


def test_class_report_before_grading_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_COURSE_DIR", str(tmp_path / "course"))
    with pytest.raises(GradingSetupError, match="nothing graded yet for mlp.*autograder grade"):
        class_report.report("mlp")
    env = {**os.environ, "GENRELAB_COURSE_DIR": str(tmp_path / "course")}
    done = subprocess.run([sys.executable, "-m", "autograder", "report", "features"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("error: nothing graded yet")
    assert "Traceback" not in done.stderr
