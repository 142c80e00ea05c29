"""Options of the submission checks: ``pytest autograder --submission DIR [--exercise NAME]
[--dataset NAME]`` (or ``python -m autograder check DIR``). Without ``--submission`` every check
is skipped."""
from pathlib import Path

import pytest

from autograder import exercises


def pytest_addoption(parser):
    group = parser.getgroup("genre lab autograder")
    group.addoption("--submission", type=Path,
                    help="folder holding a submission's notebook and model.keras")
    group.addoption("--exercise", help="the exercise (default: the folder's name)")
    group.addoption("--dataset", help="prepared data set (default: the course's)")


@pytest.fixture(scope="session")
def submission(request):
    folder = request.config.getoption("submission", default=None)
    if folder is None:
        pytest.skip("no submission to check: pass --submission DIR")
    return folder


@pytest.fixture(scope="session")
def exercise(request, submission):
    try:
        return exercises.for_submission(submission, request.config.getoption("exercise"))
    except exercises.GradingSetupError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def dataset(request):
    return request.config.getoption("dataset")
