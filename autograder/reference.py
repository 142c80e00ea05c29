"""Reference runs and the thresholds they set: ``python -m autograder reference|thresholds``.

A reference run trains the course's reference model of an exercise (:data:`MODELS`: chapter 2's
:func:`genrelab.baseline.logistic_regression` for ``features``, chapter 3's
:func:`genrelab.mlp.honest_mlp` for ``mlp``) with one seed on one data set and split, evaluates it
on the held-out test split, and appends a record -- accuracy with its 95% interval, data (source, tracks,
split, table checksum), seed, epochs, time and hardware (the GPU if TensorFlow sees one, else the
CPU) -- to ``autograder/results/<exercise>.json``. The same code runs on a GPU machine unchanged.

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
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genrelab import evaluation, splits
from genrelab.dataset import dataset_info, load_table, prepared_dir, shared_gtzan, xy

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
THRESHOLDS = HERE / "thresholds.json"
RULE = ("threshold = 0.9 x the lowest test accuracy among the reference seeds of the graded "
        "protocol, rounded down to 0.01: a model within 10% of the weakest reference run earns "
        "full marks")
KAGGLE_TABLE = shared_gtzan() / "reference" / "features_30_sec.csv"


def hardware():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
             for g in gpus]
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"device": "GPU" if gpus else "CPU", "gpus": names, "cpu": cpu,
            "cores": os.cpu_count(), "tensorflow": tf.__version__,
            "python": platform.python_version()}


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


def protocol_table(protocol):
    """``(table, data description)`` for a protocol named ``<data>:<split>``:
    ``kaggle:fault-filtered``, ``kaggle:track``, ``<prepared set>:default`` (the split prepare
    made) or ``<prepared set>:track`` (stratified by track, seed 0)."""
    data, split_name = protocol.split(":")
    if data == "kaggle":
        table = kaggle_table(split_name)
        source = f"{KAGGLE_TABLE.name} (Kaggle, 1000 tracks)"
        digest = hashlib.sha256(KAGGLE_TABLE.read_bytes()).hexdigest()
        name = "gtzan"
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
    # compiled Keras model taking the raw 57 features, trained with the module's ``fit``
    "features": ("genrelab.baseline", "logistic_regression"),
    "mlp": ("genrelab.mlp", "honest_mlp"),
}
"""The exercises with a reference model, and so with a measured threshold."""


def run_reference(exercise, protocol, seed, **config):
    """One reference run of an exercise's reference model (:data:`MODELS`). Returns the record."""
    import importlib

    module_name, builder = MODELS[exercise]
    module = importlib.import_module(module_name)
    table, data = protocol_table(protocol)
    train, valid, test = (xy(table, s) for s in ("train", "valid", "test"))
    import keras

    keras.utils.set_random_seed(seed)
    model = getattr(module, builder)(train[0], **config)
    start = time.perf_counter()
    hist = module.fit(model, train, valid, seed=seed)
    seconds = time.perf_counter() - start
    pred = model.predict(test[0], verbose=0).argmax(axis=1)
    acc, low, high = evaluation.accuracy_interval(test[1], pred)
    return {"exercise": exercise, "protocol": protocol, "model": f"{module_name}.{builder}",
            "config": config, "seed": seed, "data": data, "accuracy": acc,
            "interval95": [low, high], "epochs": len(hist.history["loss"]),
            "train_seconds": round(seconds, 1), "hardware": hardware(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


RUNNERS = {exercise: functools.partial(run_reference, exercise) for exercise in MODELS}
"""exercise -> ``runner(protocol, seed, **config)``: one reference run, its record."""


def load_records(exercise):
    path = RESULTS / f"{exercise}.json"
    return json.loads(path.read_text())["runs"] if path.is_file() else []


def save_records(exercise, records):
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps({"exercise": exercise, "runs": records}, indent=1)
    (RESULTS / f"{exercise}.json").write_text(text + "\n")


def summarize(records):
    """Per protocol: seeds, mean accuracy with its 95% interval over seeds, min, device."""
    rows = {}
    for r in records:
        rows.setdefault(r["protocol"], []).append(r)
    out = {}
    for protocol, runs in rows.items():
        accs = [r["accuracy"] for r in runs]
        mean, low, high = evaluation.seeds_interval(accs)
        out[protocol] = {"dataset": runs[0]["data"]["dataset"], "split": runs[0]["data"]["split"],
                         "seeds": sorted(r["seed"] for r in runs), "mean": mean,
                         "interval95": [low, high], "min": min(accs),
                         "test_tracks": runs[0]["data"]["tracks"].get("test"),
                         "device": sorted({r["hardware"]["device"] for r in runs})}
    return out


GRADED_PROTOCOL = {"gtzan": "kaggle:fault-filtered"}
"""Which protocol sets a data set's threshold when several measure it (the graded split is the
fault-filtered one: GTZAN's prepared split); otherwise the data set's own ``<name>:default``."""


def derive_thresholds(records_by_exercise):
    """``thresholds.json`` content from the records, by :data:`RULE`."""
    out = {}
    for exercise, records in records_by_exercise.items():
        summary = summarize(records)
        for protocol, s in summary.items():
            dataset = s["dataset"]
            if GRADED_PROTOCOL.get(dataset, f"{dataset}:default") != protocol:
                continue
            out.setdefault(exercise, {})[dataset] = {
                "threshold": math.floor(0.9 * s["min"] * 100) / 100, "chance": 0.1,
                "rule": RULE,
                "provenance": (f"{len(s['seeds'])} reference runs ({protocol}, seeds "
                               f"{s['seeds']}, {'/'.join(s['device'])}) in "
                               f"autograder/results/{exercise}.json: mean {s['mean']:.3f}, "
                               f"95% interval [{s['interval95'][0]:.3f}, "
                               f"{s['interval95'][1]:.3f}], lowest {s['min']:.3f} on "
                               f"{s['test_tracks']} test tracks")}
    return out


def add_arguments(parser):
    parser.add_argument("exercise", choices=sorted(RUNNERS))
    parser.add_argument("--protocol", action="append", required=True,
                        help="kaggle:fault-filtered, kaggle:track or <prepared set>:default "
                             "(repeatable)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")


def main(args):
    records = load_records(args.exercise)
    for protocol in args.protocol:
        records = [r for r in records if r["protocol"] != protocol]
        for seed in range(args.seeds):
            record = RUNNERS[args.exercise](protocol, seed)
            records.append(record)
            print(f"{protocol} seed {seed}: accuracy {record['accuracy']:.3f} "
                  f"[{record['interval95'][0]:.3f}, {record['interval95'][1]:.3f}] "
                  f"({record['epochs']} epochs, {record['train_seconds']} s, "
                  f"{record['hardware']['device']})", flush=True)
            save_records(args.exercise, records)
    for protocol, s in summarize(records).items():
        print(f"{protocol:28s} mean {s['mean']:.3f} 95% [{s['interval95'][0]:.3f}, "
              f"{s['interval95'][1]:.3f}] over {len(s['seeds'])} seeds")


def thresholds_main(args):
    table = derive_thresholds({e: load_records(e) for e in RUNNERS})
    THRESHOLDS.write_text(json.dumps(table, indent=2) + "\n")
    for exercise, by_data in table.items():
        for dataset, t in by_data.items():
            print(f"{exercise} on {dataset}: threshold {t['threshold']:.2f} -- {t['provenance']}")
