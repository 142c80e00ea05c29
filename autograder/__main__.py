"""``python -m autograder COMMAND``: grade a class, check one submission, grade a demo class.

    python -m autograder grade mlp --submissions course/submitted [--dataset NAME]
                               [--workers N | --scheduler tcp://HOST:8786] [--unsafe]
    python -m autograder grade sound --submissions course/submitted  # no model: notebook tests
    python -m autograder check exercises/mlp     # a student's check before handing in
                                                 # (runs the notebook; --no-run: model only)
    python -m autograder demo [--exercise features]  # a demo class, built and graded end to end
    python -m autograder reference mlp --protocol kaggle:fault-filtered --seeds 5
    python -m autograder reference features --protocol gtzan-503:default --seeds 5
    python -m autograder thresholds              # thresholds.json from the recorded runs
    python -m autograder readme [--check]        # the README's figures from the records
    python -m autograder report mlp              # the class report (HTML) for the instructor
    python -m autograder benchmark --students 100  # time to grade a class, 1 vs 2 workers
    python -m autograder.sandbox check           # does the notebooks' sandbox work here?

Exit status: 0 when the command ran (a batch with broken submissions included), 2 for an
instructor-side problem (unknown exercise, no submissions, no prepared data, no threshold), with
the command to run; ``check`` exits 1 when it found a problem.
"""
import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from autograder.exercises import GradingSetupError
from genrelab.dataset import DataNotFound

COMMANDS = {
    # name: (module, function run with the parsed arguments, function adding them or None, help)
    "grade": ("autograder.grading", "main", "add_arguments",
              "grade every submission of an exercise: notebook tests, model, gradebook, feedback"),
    "check": ("autograder.check", "main", "add_arguments",
              "a student's check of one submission: the notebook's tests, the model's "
              "validation score, and what it could not check"),
    "benchmark": ("autograder.benchmark", "main", "add_arguments",
                  "time the grading of a class of N submissions end to end, and its scaling "
                  "from 1 to N workers"),
    "demo": ("autograder.demo", "main", "add_arguments",
             "build a demo class (reference, untrained, broken, missing) and grade it"),
    "report": ("autograder.class_report", "main", "add_arguments",
               "the instructor's class report of a graded exercise: one self-contained HTML "
               "page"),
    "reference": ("autograder.reference", "main", "add_arguments",
                  "train the reference model over seeds and record the runs in results/"),
    "thresholds": ("autograder.reference", "thresholds_main", None,
                   "derive thresholds.json from the recorded reference runs"),
    "readme": ("autograder.readme", "main", "add_arguments",
               "regenerate the README's figures from autograder/results/ (--check: compare)"),
}
"""A command whose module is absent is not offered: a student release ships only ``check``'s."""


def _present(module):
    """Whether ``module`` is in this package's own folder (an editable install of another copy
    of the course could otherwise lend it one)."""
    spec = importlib.util.find_spec(module)
    return (spec is not None and spec.origin is not None
            and Path(spec.origin).resolve().parent == Path(__file__).resolve().parent)


def available():
    """The commands of :data:`COMMANDS` whose module is present."""
    return {name: spec for name, spec in COMMANDS.items() if _present(spec[0])}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, _, add_arguments, help_text) in available().items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if add_arguments:
            getattr(importlib.import_module(module), add_arguments)(command)
    args = parser.parse_args(argv)
    module, run, _, _ = COMMANDS[args.command]
    try:
        return getattr(importlib.import_module(module), run)(args) or 0
    except (GradingSetupError, DataNotFound) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
