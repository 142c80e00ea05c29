"""The class workflow as students and instructors live it: nbgrader's own exchange, in temporary
folders, on the embedded sample set.

The instructor generates the exercise (with a trained ``model.keras`` left in the source folder,
which must not reach the release) and releases it; six students fetch it in their own home
folders, work and ``nbgrader submit``; the instructor runs ``nbgrader collect``, ``python -m
autograder grade``, re-grades one student and runs ``nbgrader export``. The slow test checks that
every handed-in model survives collection, that no feedback file shows a hidden test (its code,
its messages or a traceback quoting it), that re-grading one student leaves the grades CSV whole
and that the export lists every student with the grader's totals.

What ``nbgrader export`` shows for exercises that were not assigned: it writes one row per
assignment *in the gradebook* and per student *in the gradebook*. ``generate_assignment`` puts an
exercise in the gradebook (``make exercises`` does so for every exercise): ``sound``, generated
but never released, is listed with 0 for every student; ``mlp``, neither generated nor graded in
this course folder, has no rows at all. A student the gradebook knows who handed nothing in gets
score 0 and an empty timestamp (``gina`` below).

The exercise is ``features``, the quickest one with a model (its solution runs in about 40 s on 2
cores, ``mlp``'s in about 90 s). The test trains one model: it runs the solution notebook once,
which also saves the constant model one student hands in.
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from autograder.feedback import NOTICE, ClearHiddenTestsFromFeedback

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = "features"
PROVISIONAL = {"threshold": 0.3, "chance": 0.1, "rule": "a provisional rule for the tests",
               "provenance": "tests/test_class_workflow.py, not a measurement"}
COURSE_ID = "genre-lab"
BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
BLUES = """
n = X_train.shape[1]
blues = keras.Sequential([keras.Input((n,)), keras.layers.Dense(10, activation="softmax")])
blues.layers[-1].set_weights([np.zeros((n, 10), np.float32), np.eye(10, dtype=np.float32)[0]])
blues.save("blues.keras")  # a model that always says blues
"""
IGNORES_ITS_ARGUMENTS = "    n_mfcc, n_fft, hop_length, n_mels = 20, 2048, 512, 128  # ignored\n"


def run(*command, cwd, env, check=True):
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200)
    if check:
        assert done.returncode == 0, f"{' '.join(map(str, command))}:\n{done.stdout}{done.stderr}"
    return done


def nbgrader(*args, cwd, env, check=True):
    return run(sys.executable, "-m", "nbgrader", *args, cwd=cwd, env=env, check=check)


def nbgrader_all(args, cwd, env):
    """One nbgrader command per student, all at once (as a class does): ``{student: args}``,
    with each student's folder and environment."""
    running = {student: subprocess.Popen([sys.executable, "-m", "nbgrader", *map(str, a)],
                                         cwd=cwd[student], env=env[student], text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for student, a in args.items()}
    for student, process in running.items():
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"{student}: nbgrader {' '.join(args[student])}:\n{out}"


def hidden_regions(notebook):
    """The hidden-test regions of a notebook's cells, delimiter lines included: [[lines]]."""
    regions = []
    for cell in nbformat.read(notebook, 4).cells:
        region = None
        for line in cell.source.split("\n"):
            if BEGIN in line:
                region = []
                regions.append(region)
            if region is not None:
                region.append(line)
            if END in line:
                region = None
    return regions


def normal(text):
    return " ".join(text.split())


def secrets_of(source):
    """What no feedback may show: the delimiters, every hidden line, every string of a hidden
    test (its messages), except what the rest of the source notebook shows anyway; longest
    first."""
    regions = hidden_regions(source)
    hidden = {line for region in regions for line in region}
    shown = normal("\n".join(line for c in nbformat.read(source, 4).cells
                             for line in c.source.split("\n") if line not in hidden))
    secrets = {BEGIN, END}
    for region in regions:
        secrets.update(normal(line) for line in region)
        secrets.update(normal(node.value) for node in ast.walk(ast.parse("\n".join(region)))
                       if isinstance(node, ast.Constant) and isinstance(node.value, str))
    return sorted((s for s in secrets if len(s) >= 12 and s not in shown), key=len,
                  reverse=True)


class Text(HTMLParser):
    """The text a browser shows of an HTML page (scripts and styles left out)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def page_text(path):
    if path.suffix != ".html":
        return normal(path.read_text(errors="replace"))
    parser = Text()
    parser.feed(path.read_text())
    return normal("".join(parser.parts))


@pytest.mark.slow
def test_a_class_round_trip_through_nbgrader(synthetic_env, tmp_path, monkeypatch):
    start = time.perf_counter()
    course, exchange = tmp_path / "course", tmp_path / "exchange"
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({EXERCISE: {"synthetic": PROVISIONAL}}))
    monkeypatch.setenv("GENRELAB_THRESHOLDS", str(thresholds))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           # nbgrader sets up a new gradebook with `alembic`, installed beside it
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    assert env["GENRELAB_COURSE_DIR"] == str(course)
    exchange_options = [f"--Exchange.root={exchange}", f"--course={COURSE_ID}"]
    notebook = f"{EXERCISE}.ipynb"

    # The one model of the test: the solution notebook, run once (it saves model.keras), which
    # also saves a constant model.
    train = tmp_path / "train" / EXERCISE
    train.mkdir(parents=True)
    nb = nbformat.read(ROOT / "solutions" / EXERCISE / notebook, 4)
    nb.cells.append(nbformat.v4.new_code_cell(BLUES))
    nbformat.write(nb, train / notebook)
    run(sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
        "--ExecutePreprocessor.timeout=600", "--output", "executed.ipynb", notebook,
        cwd=train, env=env)
    model, blues = train / "model.keras", train / "blues.keras"
    assert model.is_file() and blues.is_file()
    trained = time.perf_counter()

    # The instructor: a checkout where running the solution left its model.keras in solutions/.
    instructor = tmp_path / "instructor"
    shutil.copytree(ROOT / "solutions" / EXERCISE, instructor / "solutions" / EXERCISE,
                    ignore=shutil.ignore_patterns("model.keras", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", instructor)
    shutil.copy(model, instructor / "solutions" / EXERCISE)
    nbgrader("generate_assignment", EXERCISE, "--force", cwd=instructor, env=env)
    shutil.copytree(ROOT / "solutions" / "sound", instructor / "solutions" / "sound")
    nbgrader("generate_assignment", "sound", cwd=instructor, env=env)  # and never released
    release = instructor / "exercises" / EXERCISE
    assert (release / notebook).is_file()
    assert not (release / "model.keras").exists(), "the solution's model reached the release"
    nbgrader("release_assignment", EXERCISE, f"--Exchange.root={exchange}", cwd=instructor,
             env=env)
    assert sorted(p.name for p in (exchange / COURSE_ID / "outbound" / EXERCISE).iterdir()) \
        == [notebook]

    # The students, each in a home folder of their own, without the course's configuration.
    solution = ROOT / "solutions" / EXERCISE / notebook
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a Keras file")
    hand_in = {  # student: (notebook: "solution", "hidden-fail", "blank" or None; model or None)
        "alice": ("solution", model),   # the solution and its model: every point
        "bob": ("hidden-fail", model),  # its MFCCs ignore their arguments: a hidden test fails
        "carol": ("blank", blues),      # the student version and a model that says blues
        "dave": ("blank", None),        # the student version, no model
        "erin": (None, model),          # a model and no notebook: nothing to run, no points
        "frank": (None, broken),        # a model file that is not one
    }
    homes = {student: tmp_path / "homes" / student for student in hand_in}
    student_env = {}
    for student, home in homes.items():
        home.mkdir(parents=True)
        student_env[student] = {**env, "HOME": str(home),
                                "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter")}
        student_env[student].pop("JUPYTER_CONFIG_DIR", None)
    nbgrader_all({student: ("fetch_assignment", EXERCISE, *exchange_options)
                  for student in hand_in}, homes, student_env)
    for student, (kind, handed_in) in hand_in.items():
        work = homes[student] / EXERCISE
        assert (work / notebook).is_file() and not (work / "model.keras").exists()
        if kind is None:
            (work / notebook).unlink()
        elif kind == "solution":
            shutil.copy(solution, work / notebook)
        elif kind == "hidden-fail":
            nb = nbformat.read(solution, 4)
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                        == "mfcc")
            cell.source = cell.source.replace("### BEGIN SOLUTION\n",
                                              "### BEGIN SOLUTION\n" + IGNORES_ITS_ARGUMENTS)
            assert IGNORES_ITS_ARGUMENTS in cell.source
            nbformat.write(nb, work / notebook)
        if handed_in:
            shutil.copy(handed_in, work / "model.keras")
    nbgrader_all({student: ("submit", EXERCISE, *exchange_options,
                            f"--CourseDirectory.student_id={student}") for student in hand_in},
                 homes, student_env)
    inbound = list((exchange / COURSE_ID / "inbound").iterdir())
    assert len(inbound) == len(hand_in)

    # The instructor collects with the course's configuration: every model survives.
    nbgrader("collect", EXERCISE, f"--Exchange.root={exchange}", cwd=ROOT, env=env)
    submitted = course / "submitted"
    for student, (kind, handed_in) in hand_in.items():
        folder = submitted / student / EXERCISE
        assert (folder / notebook).is_file() == (kind is not None), student
        if handed_in:
            assert (folder / "model.keras").is_file(), f"{student}'s model was lost in collect"
            assert (folder / "model.keras").read_bytes() == handed_in.read_bytes()
        else:
            assert not (folder / "model.keras").exists()
    collected = time.perf_counter()

    grade = run(sys.executable, "-m", "autograder", "grade", EXERCISE, "--submissions",
                submitted, cwd=ROOT, env=env)
    graded = time.perf_counter()
    grades_csv = course / "grades" / f"{EXERCISE}.csv"
    grades = pd.read_csv(grades_csv).set_index("student")
    assert sorted(grades.index) == sorted(hand_in), grade.stdout
    alice, bob = grades.loc["alice"], grades.loc["bob"]
    assert alice.status == "ok" and alice.model_score == 10, alice.message
    assert bob.notebook_score == alice.notebook_score - 4 and "test_mfcc (0 of 4)" in bob.message
    assert grades.loc["carol"].model_score == 0 and grades.loc["carol"].notebook_score == 0
    # The model score is that of the model the grader's run of the notebook saves: a model
    # without its notebook earns nothing.
    assert grades.loc["dave"].total == 0 and grades.loc["erin"].total == 0
    assert "No features.ipynb was handed in" in grades.loc["erin"].message
    assert grades.loc["frank"].status == "error" and grades.loc["frank"].total == 0

    # No feedback file shows a hidden test. The autograded notebooks did run them, and the text
    # read from the feedback pages does hold the visible tests.
    secrets = secrets_of(solution)
    assert any("hidden signal" in s for s in secrets) and len(secrets) > 20, secrets
    ran = nbformat.read(course / "autograded" / "alice" / EXERCISE / notebook, 4)
    assert secrets[0] in normal("\n".join(c.source for c in ran.cells))
    pages = sorted((course / "feedback").rglob("*.*"))
    html = {p.parts[-3]: p for p in pages if p.suffix == ".html"}
    assert sorted(html) == ["alice", "bob", "carol", "dave"], pages
    for page in pages:
        text = page_text(page)
        shown = [s for s in secrets if s in text]
        assert not shown, f"{page.relative_to(course)} shows hidden tests: {shown[:3]}"
    assert "assert ours.shape == reference.shape" in page_text(html["alice"])
    assert NOTICE in page_text(html["bob"]) and NOTICE not in page_text(html["alice"])

    # A late re-grade of one student leaves the class whole.
    before = pd.read_csv(grades_csv)
    run(sys.executable, "-m", "autograder", "grade", EXERCISE, "--submissions", submitted,
        "--student", "erin", cwd=ROOT, env=env)
    after = pd.read_csv(grades_csv)
    assert list(after.student) == list(before.student) == sorted(hand_in)
    others = after.student != "erin"
    pd.testing.assert_frame_equal(after[others], before[others])
    for column in ("notebook_score", "model_score", "total", "status"):
        assert after[~others][column].item() == before[~others][column].item(), column

    # nbgrader export: every student the gradebook knows, with the grader's totals; only the
    # assignments of the gradebook (a student without a submission gets 0).
    nbgrader("db", "student", "add", "gina", cwd=ROOT, env=env)
    export = tmp_path / "export.csv"
    nbgrader("export", f"--to={export}", cwd=ROOT, env=env)
    exported = pd.read_csv(export, keep_default_na=False)
    assert set(exported.assignment) == {EXERCISE, "sound"}, "the gradebook's assignments"
    sound = exported[exported.assignment == "sound"]
    assert sorted(sound.student_id) == sorted([*hand_in, "gina"])
    assert (sound.score.astype(float) == 0).all() and (sound.timestamp == "").all()
    exported = exported[exported.assignment == EXERCISE]
    assert sorted(exported.student_id) == sorted([*hand_in, "gina"])
    rows = exported.set_index("student_id")
    for student, row in grades.iterrows():
        assert float(rows.loc[student, "score"]) == pytest.approx(row.total), student
    assert float(rows.loc["gina", "score"]) == 0 and rows.loc["gina", "timestamp"] == ""
    assert (rows.max_score.astype(float) == float(rows.max_score.iloc[0])).all()
    print(f"class round trip: trained {trained - start:.0f} s, exchange "
          f"{collected - trained:.0f} s, graded {graded - collected:.0f} s, all "
          f"{time.perf_counter() - start:.0f} s")


CELLS = [
    "def helper(x):\n    assert x > 0, 'the student helper fails'\n    return x",
    # a hidden test fails
    "a = 1\nassert a == 1, 'visible a'\n### BEGIN HIDDEN TESTS\nassert a == 2, 'secret message one'"
    "\nz = 'secret-line-z-1234567'\n### END HIDDEN TESTS",
    # a visible test fails: its traceback would quote the hidden lines after it
    "a = 1\nassert a == 2, 'visible message'\n### BEGIN HIDDEN TESTS\nsecret_line_x = 'secret-x'"
    "\nassert secret_line_x\n### END HIDDEN TESTS",
    # a hidden test calls the student's code, which fails
    "a = 1\nhelper(a)\n### BEGIN HIDDEN TESTS\nhelper(-12345)  # secret argument"
    "\n### END HIDDEN TESTS",
    # a hidden last expression and a hidden print
    "a = 3\n### BEGIN HIDDEN TESTS\nprint('secret printed value', a)\na * 14141"
    "\n### END HIDDEN TESTS",
    # no hidden tests: left alone
    "b = 1\nassert b == 2, 'a visible cell fails'",
]


def test_feedback_preprocessor_clears_hidden_tests(tmp_path):
    """The preprocessor on a notebook run by a real kernel (IPython's traceback format)."""
    import nbclient

    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbclient.NotebookClient(nb, allow_errors=True, timeout=120,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    run_before = nbformat.writes(nb)
    assert "secret message one" in run_before and "secret_line_x" in run_before
    nb, _ = ClearHiddenTestsFromFeedback().preprocess(nb, {})
    after = nbformat.writes(nb)
    for secret in ("HIDDEN TESTS", "secret", "12345", "14141", "42423"):
        assert secret not in after, secret

    def errors(cell):
        return [o for o in cell.outputs if o.output_type == "error"]

    (hidden,), (visible,), (called,), (untouched,) = (errors(nb.cells[i]) for i in (1, 2, 3, 5))
    last = nb.cells[4]
    assert hidden.evalue == NOTICE and hidden.ename == "AssertionError"
    assert called.evalue == NOTICE
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(visible.traceback))
    assert visible.evalue == "visible message"
    assert "----> 2 assert a == 2, 'visible message'" in shown
    assert last.outputs == [] and nb.cells[4].source == "a = 3"
    assert untouched.evalue == "a visible cell fails"
    assert nb.cells[1].source == "a = 1\nassert a == 1, 'visible a'"


def test_the_exchange_carries_models_and_the_converters_do_not(monkeypatch):
    """nbgrader_config.py ignores model.keras for the commands that must not copy it, and only
    for those; the feedback preprocessor is configured."""
    from traitlets.config.loader import PyFileConfigLoader

    def ignored(command):
        monkeypatch.setattr(sys, "argv", ["nbgrader", command])
        config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
        return config, "model.keras" in config.CourseDirectory.ignore

    for command in ("generate_assignment", "release_assignment", "autograde",
                    "generate_feedback"):
        assert ignored(command)[1], command
    for command in ("submit", "collect", "fetch_assignment", "export"):
        assert not ignored(command)[1], command
    config, _ = ignored("generate_feedback")
    assert config.GenerateFeedback.preprocessors[0] == \
        "autograder.feedback.ClearHiddenTestsFromFeedback"
