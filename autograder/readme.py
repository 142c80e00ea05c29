"""The README's figures, generated from the records: ``python -m autograder readme [--check]``.

No figure in the README is typed by hand. Its reference-results table comes from the reference
runs in ``autograder/results/<exercise>.json`` (:func:`reference_section`), its benchmark paragraph
from ``autograder/results/benchmark.json`` (:func:`benchmark_section`, written by
``python -m data_scripts benchmark --record``), its grading timings from
``autograder/results/grading_benchmark.json`` (:func:`grading_benchmark_section`, written by
``python -m autograder benchmark --record``). Each generated block sits between
``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->``; ``readme`` rewrites the blocks
and ``readme --check`` exits 1 when the README differs from the records
(``tests/test_readme.py`` does the same).
"""
import json
import re
import sys
from pathlib import Path

from autograder import reference

README = Path(__file__).resolve().parents[1] / "README.md"

PROTOCOL_NAMES = {
    "kaggle:fault-filtered": "Kaggle's table, fault-filtered split",
    "kaggle:track": "Kaggle's table, stratified track split",
    "gtzan-503:default": "the course's features of the shared 503 clips, fault-filtered split",
    "kaggle-on-gtzan-503:default": "Kaggle's table on the same tracks and split as the line above",
    "gtzan-503:track": "the course's features of the shared 503 clips, stratified track split",
    "synthetic:default": "the embedded sample set (synthetic), track split",
}
"""How the README names a protocol; the order of the table's rows."""

MODEL_NAMES = {"features": "logistic regression (chapter 2)", "mlp": "honest MLP (chapter 3)",
               "rnn": "honest LSTM, per track (chapter 5)",
               "crnn": "course's CRNN, per track (chapter 6)",
               "autoencoder": "convolutional autoencoder, per track (chapter 7)"}


def _protocol_name(protocol):
    return PROTOCOL_NAMES.get(protocol, protocol)


def _cell(s):
    t, w = s["interval95"], s["wilson95"]
    return f"{s['mean']:.3f} [{t[0]:.3f}, {t[1]:.3f}] ({w[0]:.2f}-{w[1]:.2f})"


def reference_section(records_by_exercise=None):
    """Markdown: the reference results of every exercise with a reference model."""
    records_by_exercise = records_by_exercise or {e: reference.load_records(e)
                                                  for e in reference.RUNNERS}
    every = {e: reference.summarize(r) for e, r in records_by_exercise.items() if r}
    errors = {e: by for e, by in every.items()
              if any(v.get("metric") == "lsd" for v in by.values())}
    summaries = {e: by for e, by in every.items() if e not in errors}
    exercises = [e for e in MODEL_NAMES if e in summaries] + sorted(
        set(summaries) - set(MODEL_NAMES))
    protocols = [p for p in PROTOCOL_NAMES if any(p in summaries[e] for e in exercises)]
    protocols += sorted({p for e in exercises for p in summaries[e]} - set(protocols))
    platforms = sorted({s["platform"] for e in exercises for s in summaries[e].values()})
    seeds = sorted({len(s["seeds"]) for e in exercises for s in summaries[e].values()})
    lines = [f"Test accuracy of each exercise's reference model, {'/'.join(map(str, seeds))} "
             f"seeds per protocol, on {', '.join(platforms)}: mean over seeds [95% interval of "
             "the mean over seeds, which measures seed noise on one fixed test set] (Wilson 95% "
             "interval of that accuracy on the test tracks, which measures how well the test "
             "set pins it down; it is the one to use when comparing models).", "",
             "| protocol | test tracks | " + " | ".join(MODEL_NAMES.get(e, e) for e in exercises)
             + " |", "|---|---|" + "---|" * len(exercises)]
    for p in protocols:
        tracks = next(summaries[e][p]["test_tracks"] for e in exercises if p in summaries[e])
        cells = [_cell(summaries[e][p]) if p in summaries[e] else "" for e in exercises]
        lines.append(f"| {_protocol_name(p)} | {tracks} | " + " | ".join(cells) + " |")
    notes = _gap_notes(summaries) + _platform_notes(summaries)
    if notes:
        lines += [""] + notes
    for e, by in errors.items():
        lines += ["", _error_table(e, by)]
    return "\n".join(lines)


def _error_table(exercise, by):
    """Markdown: an autoencoder's reconstruction error per protocol, beside the mean spectrum."""
    lines = [f"{MODEL_NAMES.get(exercise, exercise).capitalize()}: log-spectral distance (dB, "
             "lower is better) between the test segments and their reconstruction, a track's "
             "segments averaged: mean over seeds [95% interval of the mean over seeds] (Student-t "
             "95% interval over the test tracks), beside the training split's mean spectrum "
             "taken as every reconstruction (what a model that ignores its input reaches). "
             "Heard: on a few test segments, the mel spectrogram of the audio that comes back "
             "by Griffin-Lim, against the original -- from the original mel (the ceiling: the "
             "inversion alone) and from the network's reconstruction -- mean over seeds.", "",
             "| protocol | test tracks | seeds | platform | autoencoder | mean spectrum | "
             "heard: Griffin-Lim ceiling | heard: network |",
             "|---|---|---|---|---|---|---|---|"]
    order = [p for p in PROTOCOL_NAMES if p in by] + sorted(set(by) - set(PROTOCOL_NAMES))
    for p in order:
        s = by[p]
        t, w = s["interval95"], s["wilson95"]
        name = _protocol_name(p).replace("the course's features of", "the log-mel segments of")
        lines.append(f"| {name} | {s['test_tracks']} | {len(s['seeds'])} | "
                     f"{s['platform']} | {s['mean']:.2f} [{t[0]:.2f}, {t[1]:.2f}] "
                     f"({w[0]:.2f}-{w[1]:.2f}) | {s['baseline']:.2f} | "
                     + " | ".join(f"{s[k]:.2f}" if k in s else "not recorded"
                                  for k in ("ceiling", "heard")) + " |")
    return "\n".join(lines)


def _gap_notes(summaries):
    notes = []
    s = summaries.get("mlp", {})
    if {"kaggle:track", "kaggle:fault-filtered"} <= set(s):
        drop = s["kaggle:track"]["mean"] - s["kaggle:fault-filtered"]["mean"]
        notes.append(f"- The honest MLP loses {100 * drop:.1f} points when the split stops "
                     "sharing artists and faulty clips between train and test (stratified track "
                     "split against fault-filtered): that gap is what the course means by honest "
                     "evaluation. (The seed project's MLP: 0.655 on a random split.)")
    for e, by in summaries.items():
        for dataset, (ours, kaggle) in reference.FEATURE_GAP.items():
            if ours in by and kaggle in by:
                gap = by[ours]["mean"] - by[kaggle]["mean"]
                notes.append(f"- {MODEL_NAMES.get(e, e)}: on the same {by[ours]['test_tracks']} "
                             f"test tracks, the course's own features (Opus copies, 8 kHz band "
                             f"limit) give {by[ours]['mean']:.3f} and Kaggle's table "
                             f"{by[kaggle]['mean']:.3f} ({100 * gap:+.1f} points). The `{dataset}` "
                             "threshold is measured on Kaggle's table; its provenance states "
                             "this gap.")
    return notes


def _platform_notes(summaries):
    notes = []
    for e, by in summaries.items():
        for p, s in by.items():
            for platform, o in s["platforms"].items():
                if platform == s["platform"]:
                    continue
                ref = s["platforms"][s["platform"]]
                notes.append(f"- {MODEL_NAMES.get(e, e)}, {_protocol_name(p)}: {platform} gives "
                             f"{o['mean']:.3f} [{o['interval95'][0]:.3f}, "
                             f"{o['interval95'][1]:.3f}] over {len(o['seeds'])} seeds, against "
                             f"{ref['mean']:.3f} on {s['platform']}.")
    return notes


def benchmark_section(path=None):
    """Markdown: the recorded benchmark (``python -m data_scripts benchmark --record``)."""
    from data_scripts.benchmark import RECORD

    path = Path(path or RECORD)
    if not path.is_file():
        return "No benchmark recorded yet: run `python -m data_scripts benchmark --record`."
    b = json.loads(path.read_text())
    spc, m = b["seconds_per_clip"], b["machine"]
    worst = max(d["max_difference"] for d in b["values"].values())
    equal = (f"values equal to {worst:.0e} of each column's range" if b["values_equal"]
             else "values NOT equal")
    return (f"Recorded in `autograder/results/benchmark.json` ({b['clips']} clips of "
            f"`{b['audio']}`, {m['cores']} cores, {m['cpu']}, commit "
            f"{(b['code']['commit'] or 'unknown')[:7]}{' + changes' if b['code']['dirty'] else ''}):\n\n"
            f"| | naive loop | `prepare` | speed-up |\n|---|---|---|---|\n"
            f"| per core (one process each) | {spc['naive_one']:.2f} s/clip | "
            f"{spc['prepare_one']:.2f} s/clip | **{b['speedup_per_core']:.1f}x** |\n"
            f"| whole machine ({b['workers']} processes each) | {spc['naive_all']:.2f} s/clip | "
            f"{spc['prepare_all']:.2f} s/clip | **{b['speedup_whole_machine']:.1f}x** |\n\n"
            f"with {equal}. The goal is 10x per core.")


def grading_benchmark_section(path=None):
    """Markdown: the recorded grading benchmark (``python -m autograder benchmark --record``)."""
    path = Path(path or reference.results_dir() / "grading_benchmark.json")
    if not path.is_file():
        return ("No grading benchmark recorded yet: run `python -m autograder benchmark "
                "--students 100 --record`.")
    b = json.loads(path.read_text())
    m, sc = b["hardware"], b["scaling"]
    lines = [f"Recorded in `autograder/results/grading_benchmark.json` ({m['cores']} cores, "
             f"{m['cpu']}, commit {(b['code']['commit'] or 'unknown')[:7]}"
             f"{' + changes' if b['code']['dirty'] else ''}, data set `{b['dataset']}`): "
             f"**{b['students']} `{b['exercise']}` submissions graded end to end in "
             f"{b['seconds'] / 60:.1f} min** with {b['workers']} workers, "
             f"{b['seconds_per_student']:.1f} s per student (the sandboxed run of the notebook, "
             f"which trains the model again, included; {b['graded_ok']} graded ok). The goal is "
             "15 minutes for 100."]
    if "speedup" in sc:
        lines.append(f"From 1 to {b['workers']} workers, on {sc['students']} students: "
                     f"{sc['1_workers_s']:.0f} s to {sc[str(b['workers']) + '_workers_s']:.0f} s, "
                     f"a speed-up of **{sc['speedup']:.2f}x**.")
    return " ".join(lines)


SECTIONS = {"reference-results": reference_section, "benchmark": benchmark_section,
            "grading-benchmark": grading_benchmark_section}
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?:.*?\n)?(<!-- end generated: "
                    r"(?P=name) -->)", re.S)


def render(text):
    """``text`` with every generated block rewritten from the records."""
    found = {m.group("name") for m in _BLOCK.finditer(text)}
    missing = set(SECTIONS) - found
    if missing:
        raise ValueError(f"README.md lacks the generated blocks {sorted(missing)}")
    return _BLOCK.sub(lambda m: m.group(1) + SECTIONS[m.group("name")]() + "\n" + m.group(3), text)


def add_arguments(parser):
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when README.md differs from the records, changing nothing")


def main(args):
    text = README.read_text()
    new = render(text)
    if args.check:
        if new != text:
            print("README.md's generated figures differ from autograder/results/: run "
                  "`python -m autograder readme`", file=sys.stderr)
            return 1
        print("README.md's figures follow from autograder/results/")
        return 0
    README.write_text(new)
    print(f"rewrote the generated blocks of {README}")
    return 0
