"""A class that tries to fool the grader: 20 students across two exercises, graded sandboxed, two
at a time, on the embedded sample set, against the course's real (measured) thresholds.

``features`` (a model; graded with ``grading.grade``): an honest student; a weak one; one whose
handed-in model is unlike the one the notebook trains; a notebook that saves no model; a
renamed notebook; exceptions swallowed by a custom IPython handler, with a saved model that
breaks the exercise's structure; a look for the test split's labels; and files of the grader
rewritten (the thresholds, the prepared test split, a classmate's model, the gradebook), with a
process left behind to finish the job later.

``sound`` (no model; graded with the command line, as an instructor runs it): two honest
students, a blank notebook, an infinite loop, a memory bomb, a fork bomb, a connection to a
server on the grader's own loopback, tampered locked cells, an empty notebook, a file larger than
the limit, a read of the grader's secrets and an attempt to kill the sandbox's first process.

After the batches: thresholds, prepared data and classmates' files are intact, no sandbox process
is left, the server saw no request, the honest students have full marks, every attacker has a
clear failing reason, and the gradebook and the CSV have one row per student (also after
re-grading one of them)."""
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 120  # features: the honest notebook's training cell, on a busy machine
SOUND_CELL_TIMEOUT = 60  # sound: its slowest cell takes a few seconds (more on a loaded
# machine: at 30 s, an honest cell timed out while four trainings shared the 2 cores); the
# infinite loop waits it


def digest(*roots):
    """sha256 of every file under ``roots`` (names and contents)."""
    h = hashlib.sha256()
    for root in roots:
        root = Path(root)
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file():
                h.update(str(path).encode() + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def notebook(exercise, kind="solution", before=(), edit=None):
    """The exercise's solution (or blank student) notebook with code cells ``before`` put after
    its first code cell; ``edit(nb)`` may change it further."""
    folder = ROOT / ("solutions" if kind == "solution" else "exercises") / exercise
    nb = nbformat.read(folder / f"{exercise}.ipynb", as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    for k, code in enumerate(before):
        nb.cells.insert(first + 1 + k, nbformat.v4.new_code_cell(code))
    if edit:
        edit(nb)
    return nb


def replace_in_cells(old, new):
    def edit(nb):
        for cell in nb.cells:
            if cell.cell_type == "code" and old in cell.source:
                cell.source = cell.source.replace(old, new)
    return edit


def unsolved(*grade_ids, also=None):
    """Put back the student version of the answer cells ``grade_ids`` (the quickest way for a
    solution to lose points: their tests fail at once); then ``also(nb)``."""
    def edit(nb):
        blank = {c.metadata.nbgrader["grade_id"]: c.source for c in notebook(
            "features", "blank").cells if "nbgrader" in c.get("metadata", {})}
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") in grade_ids:
                cell.source = blank[cell.metadata.nbgrader["grade_id"]]
        if also:
            also(nb)
    return edit


def blank_locked_cells(nb):
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("locked") and cell.cell_type == "code":
            cell.source = "pass  # tests removed"


class Server(http.server.BaseHTTPRequestHandler):
    requests = []

    def do_GET(self):
        Server.requests.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def sandbox_processes(course_dir):
    """Processes of a sandbox user started for this test's course (their environment names its
    folder: other tests may be grading at the same time, on other pytest-xdist workers)."""
    from autograder.sandbox import UID_BASE

    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(l for l in status.read_text().splitlines() if l.startswith("Uid:"))
                      .split()[1])
            if UID_BASE <= uid < UID_BASE + 10_000 and \
                    str(course_dir).encode() in (status.parent / "environ").read_bytes():
                found.append((status.parent.name, uid))
        except (OSError, StopIteration, ValueError):
            continue
    return found


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"),
                    reason="the sandbox needs bubblewrap and root (.ci/run installs it)")
def test_a_class_of_attackers_cannot_fool_the_grader(synthetic_env, tmp_path):
    from autograder import grading, sandbox
    from genrelab.dataset import prepared_dir

    here = grading.course()
    prepared = prepared_dir("synthetic")
    thresholds = ROOT / "autograder" / "thresholds.json"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    # The model an honest student hands in: chapter 2's logistic regression, trained as the
    # notebook trains it (seed 0, early stopping on valid); the grader's run of the notebook
    # trains its own, within the flagging distance of this one.
    import keras

    from genrelab import baseline, dataset

    table = dataset.load_table("30s")
    keras.utils.set_random_seed(0)
    trained = baseline.logistic_regression(dataset.xy(table, "train")[0])
    baseline.fit(trained, dataset.xy(table, "train"), dataset.xy(table, "valid"))
    trained.save(tmp_path / "model.keras")
    model = (tmp_path / "model.keras").read_bytes()
    victim = here.submitted / "honest-a" / "features" / "model.keras"  # a classmate's
    tamper = f"""
import os, subprocess
subprocess.Popen(["sleep", "600"], start_new_session=True)  # to finish the job later
errors = []
for path in [{str(thresholds)!r}, {str(prepared / "splits.csv")!r}, {str(victim)!r},
             {str(here.dir / "gradebook.db")!r}]:
    try:
        open(path, "w").write("0.0")
    except OSError as err:
        errors.append(f"{{path}}: {{err.strerror}}")
if errors:
    raise OSError("; ".join(errors))
"""
    swallow = """
import keras
get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)
deep = keras.Sequential([keras.Input((57,)), keras.layers.Normalization(mean=0.0, variance=1.0),
                         keras.layers.Dense(64), keras.layers.Dense(10, activation="softmax")])
deep.save("model.keras")  # two Dense layers: not a logistic regression
"""
    # The chapter 2 answers (MFCCs from scratch, a clip's features) are left unsolved where a
    # student needs a trained model but not full marks: their hidden tests are the slowest part.
    quick = ("mfcc", "clip_features")
    features = {
        "honest-a": (notebook("features"), model),
        "weak": (notebook("features", edit=unsolved(
            *quick, also=replace_in_cells("epochs=300", "epochs=1"))), None),
        "other-model": (notebook("features", edit=unsolved(*quick)), "untrained"),
        "no-model": (notebook("features", "blank"), None),
        "renamed": (notebook("features"), model),
        "swallow-errors": (notebook("features", "blank", [swallow]), None),
        "test-labels": (notebook("features", "blank", [
            "from genrelab import dataset\n_, y = dataset.xy(dataset.load_table('30s'), 'test')\n"
            "assert len(y), 'no test labels in the sandbox'"]), None),
        "tamper-files": (notebook("features", "blank", [tamper]), model),
    }
    sound = {
        "honest-c": notebook("sound"),
        "honest-d": notebook("sound"),
        "blank": notebook("sound", "blank"),
        "infinite-loop": notebook("sound", "blank", ["while True:\n    pass"]),
        "memory-bomb": notebook("sound", "blank",
                                ["hog = [bytearray(1 << 20) for _ in range(100_000)]"]),
        "fork-bomb": notebook("sound", "blank", ["import os\nwhile True:\n    os.fork()"]),
        "network": notebook("sound", "blank", [
            f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/leak', "
            "timeout=5)"]),
        "tampered-cells": notebook("sound", "blank", edit=blank_locked_cells),
        "empty": nbformat.v4.new_notebook(),
        "big-file": notebook("sound", "blank", ["open('big.bin', 'wb').write(b'x' * (600 << 20))"]),
        "secrets": notebook("sound", "blank", ["print(open('/etc/shadow').read())"]),
        "kill-grader": notebook("sound", "blank", [
            "import os, signal\nos.kill(1, signal.SIGKILL)  # the sandbox's first process"]),
    }
    for student, (nb, handed) in features.items():
        folder = here.submitted / student / "features"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / ("my-features.ipynb" if student == "renamed"
                                     else "features.ipynb"))
        if handed == "untrained":  # right structure, never trained
            import keras
            keras.Sequential([keras.Input((57,)), keras.layers.Normalization(mean=0., variance=1.),
                              keras.layers.Dense(10, activation="softmax")]).save(
                folder / "model.keras")
        elif handed:
            (folder / "model.keras").write_bytes(handed)
    for student, nb in sound.items():
        folder = here.submitted / student / "sound"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "sound.ipynb")
    assert len(features) + len(sound) >= 20
    protected = {"thresholds": digest(thresholds), "data": digest(prepared),
                 "submissions": digest(here.submitted)}
    limits = sandbox.Limits(cell_timeout=CELL_TIMEOUT, memory_mb=4096, processes=512,
                            file_mb=512, wall_s=900)
    grades = {"features": grading.grade("features", here.submitted, "synthetic", workers=2,
                                        limits=limits).set_index("student")}
    # The other exercise through the command line, as an instructor runs it.
    cli = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "sound", "--submissions", here.submitted,
         "--workers", "2", f"--cell-timeout={SOUND_CELL_TIMEOUT}", "--notebook-timeout=900"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    grades["sound"] = pd.read_csv(here.dir / "grades" / "sound.csv").set_index("student")
    server.shutdown()

    assert {"thresholds": digest(thresholds), "data": digest(prepared),
            "submissions": digest(here.submitted)} == protected, "a protected file changed"
    assert sandbox_processes(here.dir) == [], "a sandboxed process outlived its notebook"
    assert Server.requests == [], "a notebook reached the grader's loopback"

    from nbgrader.api import Gradebook
    with Gradebook(here.db_url, here.id) as gb:
        top = {ex: gb.find_assignment(ex).max_score for ex in grades}
        for ex, table in grades.items():
            assert sorted(s.student.id for s in gb.find_assignment(ex).submissions) == \
                sorted(table.index), ex
    for ex, table in grades.items():
        csv = pd.read_csv(here.dir / "grades" / f"{ex}.csv")
        assert sorted(csv.student) == sorted(table.index) and csv.student.is_unique, ex
    for ex, honest in (("features", ["honest-a"]), ("sound", ["honest-c", "honest-d"])):
        for student in honest:
            row = grades[ex].loc[student]
            assert row.status == "ok" and row.total == top[ex], (student, row.message)
            feedback = here.feedback / student / ex
            assert (feedback / f"{ex}.html").is_file(), student
            assert (feedback / "model_report.md").is_file() == (ex == "features"), student
    with Gradebook(here.db_url, here.id) as gb:  # the model score and its explanation
        for student, row in grades["features"].iterrows():
            grade = gb.find_grade("model_accuracy", "features", "features", student)
            assert grade.manual_score == row.model_score and not grade.needs_manual_grade
            assert gb.find_submission("features", student).score == row.total
        comment = gb.find_comment("model_accuracy", "features", "features", "honest-a")
        assert f"{grades['features'].loc['honest-a', 'model_accuracy']:.3f}" in \
            comment.manual_comment and "autograder/results/features.json" in comment.manual_comment

    f, s = grades["features"], grades["sound"]
    reasons = {  # the fragment of each attacker's message that says why they lost points
        "features": {
            "weak": "below the threshold",
            "other-model": "the model your notebook trained and saved when the grader ran it",
            "no-model": "did not save model.keras",
            "renamed": "No features.ipynb was handed in",
            "swallow-errors": "breaks the exercise's limits",
            "test-labels": "no test labels in the sandbox",
            "tamper-files": "OSError",  # read-only file system, or no such file in the sandbox
        },
        "sound": {
            "blank": "lost points",
            "infinite-loop": f"stopped at the time limit ({SOUND_CELL_TIMEOUT} s per cell)",
            "memory-bomb": "MemoryError",
            "fork-bomb": ("Resource temporarily unavailable", "longer than the limit"),
            "network": "URLError",
            "tampered-cells": "You changed the locked cells",
            "empty": "lost points",
            "big-file": "File too large",
            "secrets": "PermissionError",
            "kill-grader": "PermissionError",
        },
    }
    for ex, expected in reasons.items():
        for student, fragment in expected.items():
            row = grades[ex].loc[student]
            assert any(f in row.message for f in ([fragment] if isinstance(fragment, str)
                                                   else fragment)), (ex, student, row.message)
            assert row.status != "ok", (ex, student, row.message)
            if student != "other-model":  # graded on its own run's model, and flagged
                assert row.total < top[ex], (ex, student, row.message)
    assert f.loc["weak", "total"] > 0 and f.loc["other-model", "model_score"] == 10
    assert sorted([*reasons["features"], "honest-a"]) == sorted(f.index)
    assert sorted([*reasons["sound"], "honest-c", "honest-d"]) == sorted(s.index)
    print(json.dumps({ex: {st: [r.status, r.total, r.message] for st, r in t.iterrows()}
                      for ex, t in grades.items()}, indent=1))

    # Re-grading one student gives the same result and no second row anywhere.
    again = grading.grade("features", here.submitted, "synthetic", workers=2, limits=limits,
                          only=["no-model"], regrade=True).set_index("student")
    same = ["notebook_score", "model_score", "total", "status"]
    assert again.loc["no-model", same].tolist() == f.loc["no-model", same].tolist()
    csv = pd.read_csv(here.dir / "grades" / "features.csv")
    assert sorted(csv.student) == sorted(f.index)
    with Gradebook(here.db_url, here.id) as gb:
        assert len(gb.find_assignment("features").submissions) == len(f)
