"""What the autograder checks of one submission (``python -m autograder check DIR``): the model
file exists, loads in Keras' safe mode, has the right shapes, and beats the threshold on the
held-out test split, evaluated as in grading (a separate, time- and memory-limited process).
For an exercise without a model every check is skipped."""
import pytest

from autograder import evaluate
from autograder.exercises import GradingSetupError
from genrelab.dataset import DataNotFound


@pytest.fixture(scope="module", autouse=True)
def has_model(exercise):
    """An exercise without a model has nothing here to check: its notebook's tests grade it."""
    if not exercise.has_model:
        pytest.skip(f"{exercise.name} has no model: its grade is its notebook's tests (run them "
                    f"with `nbgrader validate {exercise.notebook}`)")


@pytest.fixture(scope="module")
def loaded(exercise, submission):
    """The model, or the :class:`evaluate.ModelProblem` that stopped it loading."""
    try:
        return evaluate.load_model(submission / exercise.model_file, exercise)
    except evaluate.ModelProblem as problem:
        return problem


def _model(loaded):
    if isinstance(loaded, evaluate.ModelProblem):
        pytest.fail(loaded.message, pytrace=False)
    return loaded


def test_model_file_exists(exercise, submission):
    try:
        evaluate.check_file(submission / exercise.model_file)
    except evaluate.ModelProblem as problem:
        if problem.problem == "missing":
            pytest.fail(problem.message, pytrace=False)


def test_model_loads_in_safe_mode(loaded):
    _model(loaded)


def test_model_has_the_right_shapes(exercise, loaded):
    try:
        evaluate.check_shapes(_model(loaded), exercise)
    except evaluate.ModelProblem as problem:
        pytest.fail(problem.message, pytrace=False)


def test_model_beats_the_threshold(exercise, submission, dataset):
    try:
        result = evaluate.evaluate_submission(exercise, submission, dataset)
    except (GradingSetupError, DataNotFound) as err:
        pytest.fail(f"the course is not set up for grading here: {err}", pytrace=False)
    if result.status != "ok" or result.accuracy < result.threshold:
        pytest.fail(result.report(), pytrace=False)
