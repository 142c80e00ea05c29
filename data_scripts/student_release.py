"""``python -m data_scripts student-release [--out DIR]``: what students receive, built from this
working tree (default ``_build/student-release``); the instructor publishes that folder (a
repository of its own, or a zip) instead of this repository, which holds the solutions and the
hidden tests.

The release holds:

- ``exercises/``: the student notebooks nbgrader generated (never ``solutions/``);
- ``genrelab/`` and ``data_scripts/`` (less this command): the library and the data scripts, so
  students get and prepare the data themselves -- no data is ever copied;
- ``autograder/`` reduced to the student's own check, ``python -m autograder check``
  (:data:`AUTOGRADER_FILES`, a few lines of it rewritten: :func:`rewrites`), with the public
  ``thresholds.json``; none of the grader's own modules, records (``results/``) or tests;
- ``requirements.txt``, ``constraints.txt``, ``requirements-gpu.txt``, ``pyproject.toml``, and a
  ``README.md``, a ``Makefile`` and a ``.gitignore`` written for students;
- the marker ``STUDENT_RELEASE`` (:data:`genrelab.dataset.RELEASE_MARKER`): there, ``python -m
  data_scripts prepare`` holds the test split out (its tracks are never prepared, and no file
  names them), so the test labels never reach a student; only the grader evaluates on them.

Before the release is moved into place, :func:`check_release` checks that no file of it holds an
nbgrader solution or hidden-test block, and that its ``autograder`` imports only modules it ships.
"""
import ast
import os
import shutil
import tempfile
from pathlib import Path

from genrelab.dataset import (HELD_OUT, RELEASE_MARKER, is_student_release, project_root,
                              replace_folder)

DEFAULT_OUT = Path("_build") / "student-release"
COPIED = ("exercises", "genrelab", "data_scripts", "requirements.txt", "constraints.txt",
          "requirements-gpu.txt", "requirements-nodeps.txt", "pyproject.toml")
"""What is copied from the working tree as it is, each where it exists (:data:`REQUIRED` must)."""
REQUIRED = ("exercises", "genrelab", "data_scripts", "pyproject.toml", "requirements.txt",
            "requirements-nodeps.txt")
LEFT_OUT = ("data_scripts/student_release.py",)
"""Instructor tools inside the copied folders."""
AUTOGRADER_FILES = ("__init__.py", "__main__.py", "check.py", "evaluate.py", "exercises.py",
                    "thresholds.json")
"""What ``python -m autograder check`` needs, and nothing of the grader's own."""
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.keras",
                                 ".DS_Store", "feedback")
"""Never copied: caches, checkpoints, trained models (a solution's model must not reach a
student), nbgrader feedback."""
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS",
           "### END HIDDEN TESTS")


def rewrites(root):
    """``{path: [(old, new), ...]}``: the release's ``check`` and ``evaluate`` without the
    grader's modules (``grading`` for the cell time limit, ``reference`` for the thresholds'
    path). Each ``old`` must occur exactly once, so a change to those files fails the build
    loudly instead of shipping a broken check."""
    return {
        "autograder/check.py": [
            ("from autograder.exercises import GradingSetupError\n",
             "from autograder.exercises import GradingSetupError\n\n"
             f"CELL_TIMEOUT = {_cell_timeout(root)}\n"
             '"""Seconds a notebook cell may run, as the grader runs it (the course\'s '
             'nbgrader_config.py)."""\n'),
            ("    from autograder import evaluate, grading\n",
             "    from autograder import evaluate\n"),
            ("grading.course().cell_timeout", "CELL_TIMEOUT"),
        ],
        "autograder/evaluate.py": [
            ("from autograder.reference import THRESHOLDS\n",
             'THRESHOLDS = Path(__file__).resolve().parent / "thresholds.json"\n'),
        ],
    }


def _cell_timeout(root):
    """The grader's per-cell time limit (``nbgrader_config.py``'s ``ExecutePreprocessor``)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    return int(config.ExecutePreprocessor.timeout)


def _rewrite(text, path, replacements):
    for old, new in replacements:
        if text.count(old) != 1:
            raise RuntimeError(f"{path} changed: `{old.strip()}` is no longer in it exactly once; "
                               "update data_scripts/student_release.py's rewrites")
        text = text.replace(old, new)
    return text


def exercise_names(root=None):
    """The exercises in ``root/exercises/`` (default: this project's): folders with a notebook."""
    return sorted(p.name for p in Path(root or project_root(), "exercises").iterdir()
                  if p.is_dir() and any(p.glob("*.ipynb")))


def readme(names, models):
    """The students' README."""
    listing = "\n".join(f"- `exercises/{n}/`: "
                        + ("the notebook, and the `model.keras` it saves" if n in models
                           else "the notebook (graded on its tests)") for n in names)
    first = names[0] if names else "mlp"
    held = ", ".join(HELD_OUT)
    return f"""# Genre Lab: the exercises

Your copy of the Genre Lab course's exercises: the student notebooks, the companion library
`genrelab`, the data scripts and the autograder's check that you run before handing in. The
course's book explains every chapter; this folder is what you work in.

## Set up (once)

Python 3.10 or newer:

```bash
python3 -m venv .venv
source .venv/bin/activate            # Windows: .venv\\Scripts\\activate
pip install -r requirements.txt -c constraints.txt
pip install --no-deps -r requirements-nodeps.txt  # musicnn's checkpoints (chapter 4)
pip install -e .                     # genrelab, data_scripts and the check tool
```

(`make setup` does the same. On a machine with an NVIDIA GPU: `pip install -r
requirements-gpu.txt && pip install --no-deps -e .`, then `export KERAS_BACKEND=jax`.)

## Get the data, and prepare it

Either GTZAN (downloaded from its mirrors, md5-checked) or the course's sample set of
synthesized clips (offline, seconds):

```bash
python -m data_scripts download      # GTZAN and the fault-filtered split lists
python -m data_scripts synthetic     # or: the embedded sample set
python -m data_scripts prepare       # features, segments, images and splits
```

(`make data` makes the sample set when it finds no audio, then prepares.) Data lives in `data/`
unless `GENRELAB_DATA_DIR` says otherwise; with both data sets prepared, the notebooks use GTZAN,
and `GENRELAB_DATASET=synthetic` chooses the sample set.

## What is held out, and why

The **{held}** split is held out: in this release `prepare` leaves its tracks out altogether
(their features are never computed, and no file under `data/prepared/` names them), and
`dataset.json` says `"held_out": ["{held}"]`. You train on `train`, choose with `valid`, and
only the grader evaluates your model on `{held}`, on tracks you have never seen -- so the test
score says how well the model does on new music, not how well it was tuned to the test set.
The notebooks report validation accuracy; `xy(table, "{held}")` is empty here.

## The exercises

{listing}

Open one with Jupyter (`jupyter lab exercises/{first}/{first}.ipynb`), replace every
`raise NotImplementedError()` with your code, and run the notebook from top to bottom, so that
an exercise with a model saves its `model.keras` next to the notebook.

## Check before you hand in

```bash
python -m autograder check exercises/{first}     # or: make check EXERCISE={first}
```

runs your notebook from the top in a copy, as the grader does, scores each visible test cell,
loads `model.keras` as the grader does and reports its **validation** accuracy beside the
threshold for full points (`autograder/thresholds.json`, public: you may know the bar). It says
what it cannot check: the hidden tests (only the grader has them) and the test-split score.
Then hand in the exercise's folder, notebook and `model.keras` together, as your instructor says.
"""


MAKEFILE = """\
# Genre Lab exercises: set up, get data, check an exercise before handing it in.
#   make setup                    .venv with the course's packages
#   make data                     the sample set if no audio is found, then prepare it
#   make check EXERCISE=mlp       python -m autograder check exercises/mlp
VENV ?= .venv
PY := $(VENV)/bin/python
EXERCISE ?= mlp

.PHONY: setup data check
setup:
\ttest -x $(PY) || python3 -m venv $(VENV)
\t$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
\t$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
\t$(PY) -m pip install --quiet -e .

data:
\t$(PY) -c "from genrelab.dataset import find_audio_root; find_audio_root()" 2>/dev/null \\
\t  || $(PY) -m data_scripts synthetic
\t$(PY) -m data_scripts prepare

check:
\t$(PY) -m autograder check exercises/$(EXERCISE)
"""

GITIGNORE = """\
.venv/
/data/
__pycache__/
*.pyc
.ipynb_checkpoints/
"""

MARKER_TEXT = f"""\
A Genre Lab student release (python -m data_scripts student-release). Here `python -m
data_scripts prepare` holds out the {', '.join(HELD_OUT)} split: only the grader evaluates on it.
"""


def _shipped_autograder_imports(package):
    """``(file, module)`` for every ``autograder.X`` that a module of ``package`` imports."""
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names]
                                         if node.module == "autograder" else [])
            for name in names:
                if name.startswith("autograder."):
                    yield path.name, name.split(".")[1]


def check_release(release):
    """Raise ``RuntimeError`` unless the release at ``release`` is clean: no file holds an
    nbgrader solution or hidden-test marker, nor a trained model, nor ``solutions/``; and each
    ``autograder.X`` its autograder imports is shipped."""
    release = Path(release)
    problems = []
    for path in sorted(release.rglob("*")):
        rel = path.relative_to(release)
        if path.is_dir():
            if path.name in ("solutions", "__pycache__", "results", ".git"):
                problems.append(f"{rel}/ is in the release")
            continue
        if path.suffix == ".keras":
            problems.append(f"{rel}: a trained model is in the release")
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, ValueError):
            continue
        for marker in MARKERS:
            if marker in text:
                problems.append(f"{rel} holds `{marker}`: a solution or hidden tests")
    package = release / "autograder"
    for file, module in _shipped_autograder_imports(package):
        if not ((package / f"{module}.py").is_file() or (package / module).is_dir()):
            problems.append(f"autograder/{file} imports autograder.{module}, which the release "
                            "does not ship")
    if problems:
        raise RuntimeError("the student release is not clean:\n  " + "\n  ".join(problems))


def _write_release(root, dest):
    for name in COPIED:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORED)
        elif src.is_file():
            shutil.copy2(src, dest / name)
        elif name in REQUIRED:
            raise RuntimeError(f"{src} is missing: the release needs it"
                               + (" (run `make exercises`)" if name == "exercises" else ""))
    for rel in LEFT_OUT:
        (dest / rel).unlink(missing_ok=True)
    (dest / "autograder").mkdir()
    changes = rewrites(root)
    for name in AUTOGRADER_FILES:
        rel = f"autograder/{name}"
        if not (root / rel).is_file():
            raise RuntimeError(f"{root / rel} is missing: the student's check needs it")
        text = (root / rel).read_text()
        if rel in changes:
            text = _rewrite(text, rel, changes[rel])
        (dest / rel).write_text(text)
    from autograder.exercises import EXERCISES

    names = exercise_names(root)
    if not names:
        raise RuntimeError(f"{root / 'exercises'} holds no exercise: run `make exercises`")
    models = {n for n, e in EXERCISES.items() if e.has_model}
    (dest / "README.md").write_text(readme(names, models))
    (dest / "Makefile").write_text(MAKEFILE)
    (dest / ".gitignore").write_text(GITIGNORE)
    (dest / RELEASE_MARKER).write_text(MARKER_TEXT)


def build(out=None, root=None):
    """Build the student release into ``out`` (default ``_build/student-release`` under the
    project root) from the working tree at ``root`` (default: this project); returns ``out``.

    Built in a folder beside ``out`` and checked (:func:`check_release`) before it replaces an
    earlier release there; a folder at ``out`` that is not a student release is never
    replaced."""
    root = Path(root or project_root()).resolve()
    if is_student_release(root):
        raise RuntimeError(f"{root} is a student release itself: build the release from the "
                           "course's repository")
    out = Path(out) if out else root / DEFAULT_OUT
    out = out.resolve()
    if out == root or out in root.parents or any(out.is_relative_to(root / n) for n in COPIED):
        raise ValueError(f"{out}: the release cannot be written over or inside what it copies")
    if out.exists() and not (out / RELEASE_MARKER).is_file():
        if not out.is_dir() or any(out.iterdir()):
            raise ValueError(f"{out} exists and is not a student release: choose another --out "
                             "or remove it yourself")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.build-"))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's folder is private
        _write_release(root, tmp)
        check_release(tmp)
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def add_arguments(parser):
    parser.add_argument("--out", type=Path,
                        help=f"the release's folder (default: {DEFAULT_OUT}, replaced)")


def main(args):
    out = build(args.out)
    files = sum(1 for p in out.rglob("*") if p.is_file())
    print(f"student release in {out} ({files} files): exercises {', '.join(exercise_names(out))};"
          f" the {', '.join(HELD_OUT)} split is held out of its prepared data. Publish that "
          "folder (a repository of its own, or a zip), never this repository.")
