"""``python -m data_scripts COMMAND``: get GTZAN, make the embedded sample set, prepare features.

    python -m data_scripts download     # GTZAN + the fault-filtered split lists
    python -m data_scripts synthetic    # the embedded sample set (offline, seconds)
    python -m data_scripts prepare      # tables, MFCC/log-mel segments, images, splits
    python -m data_scripts benchmark    # prepare against a naive per-feature loop
    python -m data_scripts port-musicnn [--verify AUDIO]  # musicnn's TF1 checkpoint as Keras 3
    python -m data_scripts student-release [--out DIR]  # what students get (instructors)
"""
import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

COMMANDS = {
    "download": "GTZAN and the fault-filtered split lists, checksummed and resumable",
    "synthetic": "the embedded sample set: synthesized clips for all 10 genres",
    "prepare": "features, segments, images and splits from the audio",
    "benchmark": "time prepare against a naive per-feature librosa loop",
    "port-musicnn": "musicnn's music-tagging CNN (TF1 checkpoint) as a Keras 3 model, checked "
                    "against the original extractor with --verify",
    "student-release": "build what students receive: exercises, library, check tool; no "
                       "solutions, hidden tests or data",
}
"""Command -> help; the command ``a-b`` is the module ``data_scripts.a_b``. A command whose
module is absent (``student-release`` in a student release) is not offered."""


def _name(command):
    return f"data_scripts.{command.replace('-', '_')}"


def _module(command):
    return importlib.import_module(_name(command))


def _present(command):
    """Whether the command's module is in this package's own folder (an editable install of
    another copy of the course could otherwise lend it one)."""
    spec = importlib.util.find_spec(_name(command))
    return (spec is not None and spec.origin is not None
            and Path(spec.origin).resolve().parent == Path(__file__).resolve().parent)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m data_scripts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        if not _present(name):
            continue
        module = _module(name)
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return _module(args.command).main(args) or 0
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
