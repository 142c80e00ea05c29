"""``python -m autograder check DIR``: a student's own check of a submission, before handing in.

It does what the grader does, as far as a student may see:

1. runs the notebook from the top in a throw-away copy of DIR (as ``nbgrader validate`` and the
   grader do: every cell, a time limit per cell) and scores each graded test cell as nbgrader
   does -- an error *or anything on stderr* scores 0 -- printing the points per cell;
2. where the exercise has a model, loads the handed-in ``model.keras`` as the grader does (safe
   mode, in a separate limited process), checks its shapes and reports its **validation**
   accuracy with its interval, beside the threshold;
3. says what it could not check: the hidden tests (only the grader has them) and the test-split
   score (only the grader evaluates on test).

Exit status 0 when every visible test passes and the model (if any) is gradable, 1 otherwise, 2
when the folder is not a submission (one line says why). ``--no-run`` skips step 1.
"""
import os
import shutil
import tempfile
import time
from pathlib import Path

from autograder import exercises
from autograder.exercises import GradingSetupError


def run_notebook(path, workdir, dataset, cell_timeout):
    """Execute the notebook at ``path`` from the top in ``workdir`` as nbgrader does (errors do
    not stop it); returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if dataset:
        env["GENRELAB_DATASET"] = dataset
    NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(workdir)}}).execute(env=env)
    return nb


def cell_scores(nb):
    """``[(grade_id, points, max_points, why)]`` for each graded test cell, scored as nbgrader
    scores it; ``why`` is the error (or the first stderr line) that cost the points."""
    from nbgrader.utils import determine_grade, is_grade, is_solution

    out = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            continue
        points, top = determine_grade(cell)
        why = ""
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                why = f"{output.ename}: {output.evalue}".strip().rstrip(":")
                break
            if output.output_type == "stream" and output.name == "stderr":
                first = next((l for l in output.text.splitlines() if l.strip()), "")
                why = f"printed on stderr (scores 0): {first[:200]}"
                break
        out.append((cell.metadata.nbgrader["grade_id"], points or 0.0, top, why))
    return out


def check(folder, exercise=None, dataset=None, run=True, cell_timeout=None, say=print):
    """Check one submission folder; returns the list of problems found (empty: all good)."""
    from autograder import evaluate, grading

    folder = Path(folder)
    if not folder.is_dir():
        raise GradingSetupError(f"{folder} is not a folder: pass the folder that holds your "
                                "notebook and model.keras")
    exercise = exercises.for_submission(folder, exercise)
    problems, unchecked = [], ["the hidden tests (the grader runs them; they can take points "
                               "that the visible tests do not)"]
    say(f"Checking {folder} as the '{exercise.name}' exercise")
    notebook = folder / exercise.notebook
    if not notebook.is_file():
        problems.append(f"no {exercise.notebook} in {folder}: hand in the notebook under this "
                        "name")
        say(f"- {problems[-1]}")
    elif not run:
        unchecked.append("the notebook's tests (--no-run)")
    else:
        timeout = cell_timeout or exercise.time_limits(grading.course().cell_timeout)[0]
        say(f"- running {exercise.notebook} from the top in a copy, as the grader does "
            f"(up to {timeout} s a cell) ...")
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / exercise.name
            shutil.copytree(folder, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            try:
                nb = run_notebook(work / exercise.notebook, work, dataset, timeout)
            except Exception as err:  # a kernel that died, a cell over its time limit, ...
                nb = None
                problems.append(f"the notebook did not run to the end: {type(err).__name__}: "
                                f"{str(err).strip().splitlines()[-1][:300] if str(err).strip() else ''}")
                say(f"- {problems[-1]}")
        if nb is not None:
            scores = cell_scores(nb)
            got, top = sum(s[1] for s in scores), sum(s[2] for s in scores)
            say(f"- visible tests: {got:g} of {top:g} points "
                f"({time.perf_counter() - start:.0f} s)")
            for grade_id, points, max_points, why in scores:
                say(f"    {grade_id:28s} {points:g} of {max_points:g}"
                    + (f"   {why}" if points < max_points else ""))
                if points < max_points:
                    problems.append(f"{grade_id} scores {points:g} of {max_points:g}"
                                    + (f" ({why})" if why else ""))
    if exercise.has_model:
        result = evaluate.evaluate_submission(exercise, folder, dataset, split="valid")
        if result.status != "ok":
            problems.append(result.message)
            say(f"- model: {result.message}")
        else:
            full = "at or below" if exercise.lower_is_better else "at or above"
            say(f"- model {exercise.model_file}: loads as the grader loads it, right shapes; "
                f"{result.measured('valid').split(':')[0].replace('Validation', 'validation')}. Full "
                f"points on the test split "
                f"{full} {result.threshold:.2f}{' dB' if exercise.lower_is_better else ''}.")
        unchecked.append("your model's test-split score (only the grader evaluates on test)")
    else:
        say("- this exercise has no model: its grade is its notebook's tests")
    say("Not checked here: " + "; ".join(unchecked) + ".")
    say("All visible checks pass." if not problems else
        f"{len(problems)} problem{'s' if len(problems) > 1 else ''}: " + "; ".join(problems))
    return problems


def add_arguments(parser):
    parser.add_argument("folder", type=Path, help="the folder with the notebook and model.keras")
    parser.add_argument("--exercise", help="default: the folder's name")
    parser.add_argument("--dataset", help="prepared data set (default: the course's)")
    parser.add_argument("--no-run", action="store_true",
                        help="do not run the notebook (check the model only)")


def main(args):
    return 1 if check(args.folder, args.exercise, args.dataset, run=not args.no_run) else 0
