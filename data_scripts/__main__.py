"""``python -m data_scripts COMMAND``: get GTZAN, make the embedded sample set, prepare features.

    python -m data_scripts download     # GTZAN + the fault-filtered split lists
    python -m data_scripts synthetic    # the embedded sample set (offline, seconds)
    python -m data_scripts prepare      # tables, MFCC/log-mel segments, images, splits
    python -m data_scripts benchmark    # prepare against a naive per-feature loop
"""
import argparse
import importlib
import sys

COMMANDS = {
    "download": "GTZAN and the fault-filtered split lists, checksummed and resumable",
    "synthetic": "the embedded sample set: synthesized clips for all 10 genres",
    "prepare": "features, segments, images and splits from the audio",
    "benchmark": "time prepare against a naive per-feature librosa loop",
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m data_scripts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"data_scripts.{name}")
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        return importlib.import_module(f"data_scripts.{args.command}").main(args) or 0
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
