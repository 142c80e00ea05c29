"""``python -m autograder demo``: a demo class, built and graded end to end (``make course``).

Four students hand in an exercise (``--exercise``, ``mlp`` by default; ``features`` and ``sound``
are quicker) in ``<course>/demo/handed-in/<student>/<exercise>/``:

- ``reference``: the solution notebook, executed as a student runs it, so it saves its model;
- ``untrained``: the blank student notebook, and a model of the right shapes that was never
  trained: the grader's run of the notebook saves no model, so nothing is scored (the handed-in
  file is not what is graded);
- ``broken``: the blank notebook and a corrupt model file (a truncated copy of a real one);
- ``missing``: the blank notebook and no model.

An exercise without a model has three: ``reference``, ``blank`` (the student version, unsolved)
and ``missing`` (a folder without the notebook).

Then ``python -m autograder grade <exercise> --submissions <course>/demo/handed-in``.

The demo class has a course folder of its own, ``<course>/demo/`` (its own ``submitted/``,
gradebook, feedback and ``grades/``): its students never appear in the real class's gradebook or
in ``nbgrader export``.
"""
import os
import shutil
from pathlib import Path

from autograder import exercises, grading
from autograder.evaluate import threshold_for
from autograder.exercises import GradingSetupError

STUDENTS = ("reference", "untrained", "broken", "missing")
NOTEBOOK_ONLY_STUDENTS = ("reference", "blank", "missing")


def execute_notebook(source, folder, dataset, cell_timeout):
    """Run a notebook as nbgrader does -- its own kernel, ``folder`` as working directory, a time
    limit per cell -- and save it there with its outputs. A cell that fails raises."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}
                   ).execute(env={**os.environ, "GENRELAB_DATASET": dataset})
    nbformat.write(nb, Path(folder) / Path(source).name)


def untrained_model(exercise):
    """Right input and output shapes, random weights."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no start-up notice on stderr
    import keras
    import numpy as np

    from genrelab import GENRES

    keras.utils.set_random_seed(0)
    L = keras.layers
    if exercise.output_shape:  # an autoencoder: decoder(encoder(x)), segments in and out
        encoder = keras.Sequential([keras.Input(exercise.input_shape), L.Flatten(), L.Dense(8)],
                                   name="encoder")
        decoder = keras.Sequential([keras.Input((8,)),
                                    L.Dense(int(np.prod(exercise.output_shape))),
                                    L.Reshape(exercise.output_shape)], name="decoder")
        x = keras.Input(exercise.input_shape)
        return keras.Model(x, decoder(encoder(x)))
    return keras.Sequential([keras.Input(exercise.input_shape), L.Flatten(),
                             L.Dense(len(GENRES), activation="softmax")])


def build(exercise, dataset, dest):
    """Write the demo class into ``dest`` (replacing it)."""
    course = grading.course()
    blank = course.release / exercise.name / exercise.notebook
    if not blank.is_file():
        raise GradingSetupError(f"{blank} is missing: run `nbgrader generate_assignment "
                                f"{exercise.name}` first")
    students = STUDENTS if exercise.has_model else NOTEBOOK_ONLY_STUDENTS
    folders = {s: Path(dest) / s / exercise.name for s in students}
    shutil.rmtree(dest, ignore_errors=True)
    for folder in folders.values():
        folder.mkdir(parents=True)
    print("running the reference solution ...", flush=True)
    execute_notebook(course.source / exercise.name / exercise.notebook, folders["reference"],
                     dataset, exercise.time_limits(course.cell_timeout)[0])
    if not exercise.has_model:
        shutil.copy(blank, folders["blank"])
        return
    for student in STUDENTS[1:]:
        shutil.copy(blank, folders[student])
    untrained_model(exercise).save(folders["untrained"] / exercise.model_file)
    model = (folders["reference"] / exercise.model_file).read_bytes()
    (folders["broken"] / exercise.model_file).write_bytes(model[: len(model) // 2])


def add_arguments(parser):
    parser.add_argument("--exercise", default="mlp",
                        help=f"one of {', '.join(exercises.EXERCISES)} (default: mlp)")
    parser.add_argument("--dataset", help="prepared data set (default: the course's)")


def demo_course():
    """Point the course folder (``GENRELAB_COURSE_DIR``, read by ``nbgrader_config.py``) at
    ``<course>/demo``, for this process and the nbgrader runs it starts; returns the folder."""
    folder = grading.course().dir / "demo"
    os.environ["GENRELAB_COURSE_DIR"] = str(folder)
    return folder


def main(args):
    from genrelab.dataset import dataset_info

    demo_course()
    exercise = exercises.get(args.exercise)
    dataset = dataset_info(args.dataset)["name"]
    if exercise.has_model:
        threshold_for(exercise.name, dataset)  # before spending minutes on the reference run
    dest = grading.course().dir / "handed-in"
    build(exercise, dataset, dest)
    from autograder import sandbox

    try:  # the demo's notebooks are the course's own: without a sandbox, grade them unsafe
        sandbox.check()
        unsafe = False
    except sandbox.SandboxUnavailable as err:
        print(f"{err}: the demo grades its own notebooks without it (--unsafe)")
        unsafe = True
    grading.print_summary(grading.grade(exercise.name, dest, dataset, unsafe=unsafe,
                                        regrade=True), exercise.name)
