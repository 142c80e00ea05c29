"""Reference runs and the thresholds they set: ``python -m autograder reference|thresholds``.

A reference run trains the course's reference model of an exercise (:data:`MODELS`: chapter 2's
:func:`genrelab.baseline.logistic_regression` for ``features``, chapter 3's
:func:`genrelab.mlp.honest_mlp` for ``mlp``) with one seed on one data set and split, evaluates it
on the held-out test split, and appends a record -- accuracy with its Wilson 95% interval, data
(source, tracks, split, table checksum), seed, epochs, time, the platform (Keras backend and its
version, device and its name, CPU, Python: :func:`hardware`) and the code (git commit, and whether
the code differed from it: :func:`code_version`) -- to ``autograder/results/<exercise>.json``.

The same code runs unchanged on every Keras 3 backend: TensorFlow on the CPU (the course's
default), JAX or PyTorch on a GPU (``KERAS_BACKEND=jax``; no TensorFlow needed). Runs of one
protocol on several platforms are kept side by side; :data:`PLATFORM_RULE` says which sets the
figures.

``thresholds`` derives ``autograder/thresholds.json`` from those records by one stated rule
(:data:`RULE`); ``tests/test_thresholds.py`` checks that the file still follows from the records.
"""
import datetime
import functools
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from genrelab import evaluation, splits
from genrelab.dataset import (dataset_info, load_table, prepared_dir, segments_digest, shared_gtzan,
                              xy)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
THRESHOLDS = HERE / "thresholds.json"
RULE = ("threshold = the lowest accuracy on the graded protocol's test tracks whose Wilson 95% "
        "interval still reaches the reference runs' mean accuracy (a model at or above it is not "
        "significantly worse than the reference on these tracks, so no student loses points to "
        "the noise of the test set), and never above the lowest reference run; rounded down to "
        "0.01")
KAGGLE_TABLE = shared_gtzan() / "reference" / "features_30_sec.csv"


def _gpu_names(backend):
    """The GPUs the Keras backend trains on (names such as ``NVIDIA H200``), empty on a CPU.
    Asked of the backend itself, so a JAX or PyTorch machine needs no TensorFlow."""
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if backend == "tensorflow":
        # Keras' TensorFlow backend has loaded it already: asked, never imported here.
        tf = sys.modules["tensorflow"]
        return [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                for g in tf.config.list_physical_devices("GPU")]
    return []


BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch",
                    "numpy": "numpy", "openvino": "openvino"}


def hardware():
    """What trained a model: Keras backend and its version, device (``GPU`` or ``CPU``) and its
    name, CPU model, cores and Python. Works on every backend, after training as before."""
    import importlib.metadata

    import keras

    backend = keras.backend.backend()
    package = BACKEND_PACKAGES.get(backend, backend)
    try:
        version = importlib.import_module(package).__version__
    except (ImportError, AttributeError):
        version = importlib.metadata.version(package)
    gpus = _gpu_names(backend)
    machine = hardware_of_machine()
    return {"device": "GPU" if gpus else "CPU", "device_name": gpus[0] if gpus else machine["cpu"],
            "gpus": gpus, "cpu": machine["cpu"], "cores": machine["cores"], "backend": backend,
            "backend_version": version, "keras": keras.__version__, "python": machine["python"]}


def hardware_of_machine():
    """``{cpu, cores, python}``: the CPU model (from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


CODE_PATHS = ("genrelab", "autograder")
NOT_CODE = ("autograder/results", "autograder/thresholds.json")
"""What the runs themselves write: records and thresholds are not code."""
"""The code a reference run runs (data_scripts only made the tables, which the records identify
by checksum): a change there makes a record *dirty*."""


def code_version(root=HERE.parent):
    """``{commit, dirty}`` of the code that runs: git's HEAD and whether :data:`CODE_PATHS`
    differ from it (records made from uncommitted code say so). Where there is no git checkout
    (a copy sent to a GPU machine), ``$GENRELAB_COMMIT`` names the commit; ``dirty`` is then
    ``None``: unknown."""
    import subprocess

    def git(*args):
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        if done.returncode:
            raise OSError(done.stderr.strip())
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS,
                         *(f":(exclude){p}" for p in NOT_CODE)))
    except OSError:  # no git, or not a checkout
        commit, dirty = os.environ.get("GENRELAB_COMMIT"), None
    return {"commit": commit, "dirty": dirty}


def platform_of(record):
    """A record's platform label, e.g. ``tensorflow/CPU`` or ``jax/GPU (NVIDIA H200)``. Records
    made before backends were recorded were made with TensorFlow."""
    hw = record["hardware"]
    label = f"{hw.get('backend', 'tensorflow')}/{hw['device']}"
    return label + (f" ({hw['device_name']})" if hw["device"] == "GPU" else "")


def kaggle_table(split_name, seed=0):
    """Kaggle's 1000-track table with a split: ``fault-filtered`` or ``track`` (stratified)."""
    table = pd.read_csv(KAGGLE_TABLE)
    table["track_id"] = table.filename.str.extract(r"^([a-z]+\.\d{5})", expand=False)
    table["genre"] = table.label
    if split_name == "fault-filtered":
        table["split"] = splits.fault_filtered(table.track_id, splits.find_lists())
    else:
        table["split"] = splits.by_track(table.track_id, table.genre, seed=seed)
    return table


KAGGLE_ON = "kaggle-on-"
"""``kaggle-on-<prepared set>:default``: Kaggle's feature table restricted to the tracks of a
prepared set, with that set's split. Against ``<prepared set>:default`` it measures, on the same
tracks and split, what the course's own features (from the audio at hand) change against Kaggle's
(from the original WAV files): the gap stated in the provenance of the ``gtzan`` threshold, which
is measured on Kaggle's table. A comparison only: it sets no threshold."""


def protocol_table(protocol):
    """``(table, data description)`` for a protocol named ``<data>:<split>``:
    ``kaggle:fault-filtered``, ``kaggle:track``, ``<prepared set>:default`` (the split prepare
    made), ``<prepared set>:track`` (stratified by track, seed 0) or
    ``kaggle-on-<prepared set>:default`` (:data:`KAGGLE_ON`)."""
    data, split_name = protocol.split(":")
    if data == "kaggle" or data.startswith(KAGGLE_ON):
        digest = hashlib.sha256(KAGGLE_TABLE.read_bytes()).hexdigest()
        if data == "kaggle":
            table = kaggle_table(split_name)
            source = f"{KAGGLE_TABLE.name} (Kaggle, 1000 tracks)"
            name = "gtzan"
        else:
            prepared = data[len(KAGGLE_ON):]
            ours = load_table("30s", prepared)[["track_id", "split"]]
            table = kaggle_table("track").drop(columns="split").merge(ours, on="track_id")
            source = (f"{KAGGLE_TABLE.name} (Kaggle), the {len(table)} tracks of "
                      f"data/prepared/{prepared}")
            name, split_name = data, dataset_info(prepared)["split"]
    else:
        table = load_table("30s", data)
        info = dataset_info(data)
        source = f"data/prepared/{data} from {info['audio_root']}"
        digest = hashlib.sha256((prepared_dir(data) / "features_30_sec.csv").read_bytes()
                                ).hexdigest()
        name = data
        if split_name == "track":
            table["split"] = splits.by_track(table.track_id, table.label)
        else:
            split_name = info["split"]
    counts = table.split.value_counts().to_dict()
    return table, {"dataset": name, "source": source, "table_sha256": digest,
                   "split": split_name, "tracks": {k: int(v) for k, v in counts.items()}}


MODELS = {
    # exercise: (module, builder) of its reference model; builder(train_X, **config) returns a
    # compiled Keras model taking the exercise's raw inputs (the 57 features; chapter 5's MFCC
    # sequences, chapter 6's log-mel segments), trained with the module's ``fit``
    "features": ("genrelab.baseline", "logistic_regression"),
    "mlp": ("genrelab.mlp", "honest_mlp"),
    "rnn": ("genrelab.rnn", "honest_lstm"),
    "crnn": ("genrelab.crnn", "honest_crnn"),
    "autoencoder": ("genrelab.autoencoders", "conv_autoencoder"),
}
"""The exercises with a reference model, and so with a measured threshold."""


def protocol_segments(exercise, protocol):
    """``({split: (X, y, track_ids)}, data description)`` for an exercise graded on segments
    (one row per 3 s segment): the protocol is ``<prepared set>:default``, the split prepare
    made. The test tracks are counted as tracks: a track's segments are scored together."""
    from autograder.exercises import get

    data, split_name = protocol.split(":")
    if split_name != "default" or data == "kaggle" or data.startswith(KAGGLE_ON):
        raise ValueError(f"{exercise} is measured on a prepared set's own split "
                         f"(<prepared set>:default), not on {protocol}")
    ex, info = get(exercise), dataset_info(data)
    parts = {s: ex.split_data(data, s) for s in ("train", "valid", "test")}
    kind = ex.inputs.split("_")[0]  # mfcc_segments: mfcc
    return parts, {"dataset": data, "source": f"data/prepared/{data} from {info['audio_root']}",
                   "arrays_sha256": segments_digest(kind, data),
                   "split": info["split"],
                   "tracks": {s: int(len(set(p[2]))) for s, p in parts.items()},
                   "segments": {s: int(len(p[1])) for s, p in parts.items()}}


def run_reference(exercise, protocol, seed, **config):
    """One reference run of an exercise's reference model (:data:`MODELS`). Returns the record.
    Accuracy is per track: a segment model's segment probabilities are averaged per track
    (:func:`genrelab.evaluation.song_level`), as the grader does."""
    import importlib

    from autograder.exercises import get

    module_name, builder = MODELS[exercise]
    module = importlib.import_module(module_name)
    if get(exercise).metric == "lsd":
        return _run_autoencoder(exercise, protocol, seed, module, builder, config)
    if get(exercise).inputs == "features_30s":
        table, data = protocol_table(protocol)
        train, valid, test = (xy(table, s) for s in ("train", "valid", "test"))
        test_tracks = table.track_id[table.split == "test"].to_numpy()
    else:
        parts, data = protocol_segments(exercise, protocol)
        train, valid, test = parts["train"][:2], parts["valid"][:2], parts["test"][:2]
        test_tracks = parts["test"][2]
    import keras

    keras.utils.set_random_seed(seed)
    model = getattr(module, builder)(train[0], **config)
    start = time.perf_counter()
    hist = module.fit(model, train, valid, seed=seed)
    seconds = time.perf_counter() - start
    _, truth, pred = evaluation.track_level(model.predict(test[0], verbose=0), test[1],
                                            test_tracks)
    acc, low, high = evaluation.accuracy_interval(truth, pred)
    return {"exercise": exercise, "protocol": protocol, "model": f"{module_name}.{builder}",
            "config": config, "seed": seed, "data": data, "accuracy": acc,
            "interval95": [low, high], "epochs": len(hist.history["loss"]),
            "train_seconds": round(seconds, 1), "hardware": hardware(), "code": code_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _run_autoencoder(exercise, protocol, seed, module, builder, config):
    """One reference run of an autoencoder: trained to rebuild the training segments, scored by
    the log-spectral distance (dB) of its reconstruction of the test segments, a track's
    segments averaged (``lsd``, with the Student-t 95% interval over tracks and the tracks'
    standard deviation), beside ``baseline``: the same for the training split's mean spectrum.
    And what a listener hears, on :data:`HEARD_SEGMENTS` test segments spread over the split:
    ``ceiling``, the LSD between a segment and the mel of its own mel inverted by Griffin-Lim (no
    network: what the inversion alone loses), and ``heard``, the same for the network's
    reconstruction inverted (:func:`genrelab.autoencoders.griffin_lim_ceiling`)."""
    import keras

    from genrelab.autoencoders import (griffin_lim_ceiling, log_spectral_distance,
                                       mean_interval, mean_spectrum_lsd, reconstruct, track_lsd)

    parts, data = protocol_segments(exercise, protocol)
    train, valid, test = parts["train"], parts["valid"], parts["test"]
    keras.utils.set_random_seed(seed)
    model = getattr(module, builder)(train[0], **config)
    start = time.perf_counter()
    hist = module.fit(model, train, valid, seed=seed)
    seconds = time.perf_counter() - start
    _, per_track = track_lsd(test[0], reconstruct(model, test[0]), test[2])
    lsd, low, high = mean_interval(per_track)
    _, baseline = mean_spectrum_lsd(train[0], test[0], test[2])
    rows = np.linspace(0, len(test[0]) - 1, HEARD_SEGMENTS).astype(int)
    heard = {}
    for name, mels in (("ceiling", test[0][rows]), ("heard", reconstruct(model, test[0][rows]))):
        heard[name] = float(np.mean([log_spectral_distance(original, griffin_lim_ceiling(mel)[1])
                                     for original, mel in zip(test[0][rows], mels)]))
    return {"exercise": exercise, "protocol": protocol, "model": f"{module.__name__}.{builder}",
            "config": config, "seed": seed, "data": data, "lsd": lsd, "interval95": [low, high],
            "track_sd": float(np.std(per_track, ddof=1)), "baseline": float(baseline.mean()),
            **heard, "heard_segments": HEARD_SEGMENTS,
            "epochs": len(hist.history["loss"]), "train_seconds": round(seconds, 1),
            "hardware": hardware(), "code": code_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


HEARD_SEGMENTS = 8
"""Test segments a reference run inverts to audio (Griffin-Lim, seconds each on a CPU)."""


def measure_of(record):
    """A record's measure: its ``accuracy``, or an autoencoder's ``lsd`` (dB)."""
    return record["lsd"] if "lsd" in record else record["accuracy"]


RUNNERS = {exercise: functools.partial(run_reference, exercise) for exercise in MODELS}
"""exercise -> ``runner(protocol, seed, **config)``: one reference run, its record."""


def results_dir():
    """``autograder/results/``, or ``$GENRELAB_RESULTS`` (tests record into a throw-away one)."""
    return Path(os.environ.get("GENRELAB_RESULTS") or RESULTS)


def load_records(exercise):
    path = results_dir() / f"{exercise}.json"
    return json.loads(path.read_text())["runs"] if path.is_file() else []


def save_records(exercise, records):
    """Write the records atomically: an interrupted run leaves the previous file whole."""
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"exercise": exercise, "runs": records}, indent=1)
    tmp = folder / f".{exercise}.json.tmp"
    tmp.write_text(text + "\n")
    os.replace(tmp, folder / f"{exercise}.json")


PLATFORM_RULE = ("the reference platform of a protocol is a GPU platform with at least 5 seeds "
                 "where one was recorded, else TensorFlow on the CPU; runs on other platforms "
                 "are reported beside it")


def _seed_summary(runs):
    accs = [measure_of(r) for r in runs]
    mean, low, high = evaluation.seeds_interval(accs)
    n = runs[0]["data"]["tracks"].get("test")
    extra = {}
    if "lsd" in runs[0]:
        # How well the test tracks pin an error: the Student-t interval over tracks, from the
        # runs' mean spread between tracks; and the error of the mean spectrum beside it.
        sd = float(np.mean([r["track_sd"] for r in runs]))
        half = float(stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)) if n and n > 1 else np.nan
        w_low, w_high = mean - half, mean + half
        extra = {"metric": "lsd", "track_sd": sd,
                 "baseline": float(np.mean([r["baseline"] for r in runs])),
                 **{k: float(np.mean([r[k] for r in runs])) for k in ("ceiling", "heard")
                    if all(k in r for r in runs)}}
    else:
        # How well the test tracks pin an accuracy: the Wilson interval of the mean accuracy.
        _, w_low, w_high = evaluation.wilson_interval(mean, n) if n else (mean, None, None)
    return {"seeds": sorted(r["seed"] for r in runs), "mean": mean, "interval95": [low, high],
            "wilson95": [w_low, w_high], **extra, "min": min(accs), "max": max(accs),
            "epochs": float(np.mean([r.get("epochs", np.nan) for r in runs])),
            "train_seconds": float(np.mean([r.get("train_seconds", np.nan) for r in runs]))}


def reference_platform(platforms):
    """Which platform's runs set the figures of a protocol (:data:`PLATFORM_RULE`)."""
    gpu = [p for p, s in platforms.items() if "/GPU" in p and len(s["seeds"]) >= 5]
    if gpu:
        return max(gpu, key=lambda p: len(platforms[p]["seeds"]))
    if "tensorflow/CPU" in platforms:
        return "tensorflow/CPU"
    return max(platforms, key=lambda p: len(platforms[p]["seeds"]))


def summarize(records):
    """Per protocol: the reference platform's seeds, mean accuracy with the 95% interval of the
    mean over seeds (``interval95``, Student t: seed noise on one fixed test set) and the Wilson
    95% interval of that mean on the test tracks (``wilson95``: how well the test set pins it),
    min and max; and ``platforms``: the same for every platform that ran the protocol."""
    rows = {}
    for r in records:
        rows.setdefault(r["protocol"], {}).setdefault(platform_of(r), []).append(r)
    out = {}
    for protocol, by_platform in rows.items():
        platforms = {p: _seed_summary(runs) for p, runs in sorted(by_platform.items())}
        chosen = reference_platform(platforms)
        first = by_platform[chosen][0]
        out[protocol] = {"dataset": first["data"]["dataset"], "split": first["data"]["split"],
                         **platforms[chosen], "test_tracks": first["data"]["tracks"].get("test"),
                         "platform": chosen, "device": [chosen.split("/")[1].split()[0]],
                         "platforms": platforms}
    return out


RULE_LSD = ("threshold = the highest log-spectral distance (dB) on the graded protocol's test "
            "tracks whose Student-t 95% interval over those tracks still reaches the reference "
            "runs' mean (a model at or below it is not significantly worse than the reference "
            "on these tracks), and never below the worst reference run; rounded up to 0.01 dB. "
            "Chance: the distance of the training split's mean spectrum, rounded up to 0.01 dB")
"""The rule for an error (lower is better): the mirror of :data:`RULE`."""

GRADED_PROTOCOL = {"gtzan": "kaggle:fault-filtered"}
"""Which protocol sets a data set's threshold when several measure it (the graded split is the
fault-filtered one: GTZAN's prepared split); otherwise the data set's own ``<name>:default``."""

FEATURE_GAP = {"gtzan": ("gtzan-503:default", f"{KAGGLE_ON}gtzan-503:default")}
"""For a threshold measured on Kaggle's table: ``(course's features, Kaggle's table)`` protocols
on the same tracks and split, whose difference the provenance states."""


def _platform_note(s):
    others = [f"{p}: mean {o['mean']:.3f} over {len(o['seeds'])} seeds"
              for p, o in s["platforms"].items() if p != s["platform"]]
    return f"; beside it {'; '.join(others)}" if others else ""


def _gap_note(summary, dataset):
    if dataset not in FEATURE_GAP:
        return ""
    ours, kaggle = FEATURE_GAP[dataset]
    if ours not in summary or kaggle not in summary:
        return (f". Not yet measured: the gap between the course's features and Kaggle's table "
                f"(run the protocols {ours} and {kaggle})")
    a, b = summary[ours], summary[kaggle]
    return (f". Grading uses the course's own features: on the same {a['test_tracks']} test "
            f"tracks and split ({ours} against {kaggle}) the course's features give "
            f"{a['mean']:.3f} and Kaggle's table {b['mean']:.3f}, a gap of "
            f"{a['mean'] - b['mean']:+.3f}")


def derive_thresholds(records_by_exercise):
    """``thresholds.json`` content from the records, by :data:`RULE`."""
    out = {}
    for exercise, records in records_by_exercise.items():
        summary = summarize(records)
        for protocol, s in summary.items():
            dataset = s["dataset"]
            if (dataset.startswith(KAGGLE_ON)
                    or GRADED_PROTOCOL.get(dataset, f"{dataset}:default") != protocol):
                continue
            if s.get("metric") == "lsd":
                threshold = math.ceil(max(s["wilson95"][1], s["max"]) * 100 - 1e-9) / 100
                chance, rule, unit = math.ceil(s["baseline"] * 100 - 1e-9) / 100, RULE_LSD, " dB"
                if not threshold < chance:
                    raise ValueError(f"{exercise} on {dataset}: the reference runs' threshold "
                                     f"{threshold} dB is not below the mean spectrum's {chance} "
                                     "dB: the reference model does not beat a model that "
                                     "ignores its input, so it cannot set a threshold")
                what = (f"; the training split's mean spectrum gives {s['baseline']:.3f} dB, "
                        f"and the Student-t 95% interval over the test tracks is "
                        f"[{s['wilson95'][0]:.3f}, {s['wilson95'][1]:.3f}]")
            else:
                noise = evaluation.noise_aware_threshold(s["mean"], s["test_tracks"])
                threshold = math.floor(min(noise, s["min"]) * 100 + 1e-9) / 100
                chance, rule, unit, what = 0.1, RULE, "", ""
            worst = "highest" if s.get("metric") == "lsd" else "lowest"
            out.setdefault(exercise, {})[dataset] = {
                "threshold": threshold, "chance": chance, "rule": rule,
                "provenance": (f"{len(s['seeds'])} reference runs ({protocol}, seeds "
                               f"{s['seeds']}, {s['platform']}) in "
                               f"autograder/results/{exercise}.json: mean {s['mean']:.3f}{unit}, "
                               f"95% interval of the mean over seeds [{s['interval95'][0]:.3f}, "
                               f"{s['interval95'][1]:.3f}], {worst} "
                               f"{s['max'] if worst == 'highest' else s['min']:.3f}{unit} on "
                               f"{s['test_tracks']} test tracks{what}{_platform_note(s)}"
                               f"{_gap_note(summary, dataset)}")}
    return out


def add_arguments(parser):
    parser.add_argument("exercise", choices=sorted(RUNNERS))
    parser.add_argument("--protocol", action="append", required=True,
                        help="kaggle:fault-filtered, kaggle:track, <prepared set>:default, "
                             "<prepared set>:track or kaggle-on-<prepared set>:default "
                             "(repeatable)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")


def main(args):
    """Run the seeds of each protocol on this platform, replacing this platform's earlier runs of
    that protocol (other platforms' runs stay), saving after every seed."""
    records = load_records(args.exercise)
    for protocol in args.protocol:
        here = None
        for seed in range(args.seeds):
            record = RUNNERS[args.exercise](protocol, seed)
            if here is None:
                here = platform_of(record)
                records = [r for r in records
                           if not (r["protocol"] == protocol and platform_of(r) == here)]
            records.append(record)
            print(f"{protocol} seed {seed}: {'lsd' if 'lsd' in record else 'accuracy'} "
                  f"{measure_of(record):.3f} "
                  f"[{record['interval95'][0]:.3f}, {record['interval95'][1]:.3f}] "
                  f"({record['epochs']} epochs, {record['train_seconds']} s, {here})",
                  flush=True)
            save_records(args.exercise, records)
    for protocol, s in summarize(records).items():
        for where, p in s["platforms"].items():
            print(f"{protocol:32s} {where:18s} mean {p['mean']:.3f} 95% [{p['interval95'][0]:.3f}, "
                  f"{p['interval95'][1]:.3f}] over {len(p['seeds'])} seeds")


def thresholds_main(args):
    table = derive_thresholds({e: load_records(e) for e in RUNNERS})
    THRESHOLDS.write_text(json.dumps(table, indent=2) + "\n")
    for exercise, by_data in table.items():
        for dataset, t in by_data.items():
            print(f"{exercise} on {dataset}: threshold {t['threshold']:.2f} -- {t['provenance']}")
