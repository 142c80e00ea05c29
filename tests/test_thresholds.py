"""Thresholds are measured numbers with provenance: they follow, by the stated rule, from the
recorded reference runs in ``autograder/results/``."""
import hashlib
import json

import numpy as np
import pytest

from autograder import reference
from genrelab import evaluation


@pytest.fixture(scope="module")
def records():
    return {e: reference.load_records(e) for e in reference.RUNNERS}


def test_thresholds_file_follows_from_the_records(records):
    assert json.loads(reference.THRESHOLDS.read_text()) == reference.derive_thresholds(records)


def test_every_record_says_what_how_and_where(records):
    for exercise, runs in records.items():
        assert len(runs) >= 5, f"{exercise}: fewer than 5 reference runs"
        for r in runs:
            assert {"seed", "interval95", "data", "hardware", "date"} <= set(r)
            assert r["hardware"]["device"] in ("CPU", "GPU")
            assert r["data"].get("table_sha256") or r["data"].get("arrays_sha256")
            if "lsd" in r:  # an autoencoder: an error in dB, beside the mean spectrum's
                low, high = r["interval95"]
                assert 0 < low < r["lsd"] < high and r["track_sd"] > 0 and r["baseline"] > 0
                # what is heard: the Griffin-Lim ceiling beside the network's figure
                assert 0 < r["ceiling"] and 0 < r["heard"] and r["heard_segments"] > 0
                continue
            # The accuracy is a count of correct test tracks, and the interval is the Wilson
            # interval of that count (genrelab.evaluation.accuracy_interval), not a typed number.
            n = r["data"]["tracks"]["test"]
            correct = round(r["accuracy"] * n)
            assert abs(r["accuracy"] - correct / n) < 1e-9, (
                f"{exercise} {r['protocol']} seed {r['seed']}: accuracy {r['accuracy']} is not a "
                f"share of {n} test tracks")
            truth = np.zeros(n, int)
            _, low, high = evaluation.accuracy_interval(truth, np.arange(n) >= correct)
            assert np.allclose(r["interval95"], [low, high], rtol=0, atol=1e-9), (
                f"{exercise} {r['protocol']} seed {r['seed']}: interval95 {r['interval95']} is not "
                f"the Wilson interval [{low}, {high}] of {correct} of {n}")


@pytest.mark.parametrize("exercise, graded", [
    ("features", {"synthetic", "gtzan"}), ("mlp", {"synthetic", "gtzan"}),
    # the MFCC sequences exist for the audio at hand: the shared 503 clips, not all of GTZAN
    ("rnn", {"synthetic", "gtzan-503"}), ("crnn", {"synthetic", "gtzan-503"}),
    ("autoencoder", {"synthetic", "gtzan-503"})])
def test_graded_data_sets_have_five_seeds_and_a_threshold_below_every_run(records, exercise,
                                                                          graded):
    table = reference.derive_thresholds(records)
    assert graded <= set(table[exercise])
    summary = reference.summarize(records[exercise])
    for dataset, t in table[exercise].items():
        protocol = reference.GRADED_PROTOCOL.get(dataset, f"{dataset}:default")
        assert len(summary[protocol]["seeds"]) >= 5
        if summary[protocol].get("metric") == "lsd":  # an error: lower is better
            assert summary[protocol]["max"] <= t["threshold"] < t["chance"]
        else:
            assert t["chance"] < t["threshold"] <= summary[protocol]["min"]


def test_every_exercise_with_a_model_has_a_reference_model_and_thresholds(records):
    """A gradable model needs a measured threshold: every exercise whose submissions hold a model
    has a reference model (``reference.MODELS``), recorded runs and thresholds."""
    from autograder import exercises

    with_model = {e.name for e in exercises.EXERCISES.values() if e.has_model}
    assert with_model <= set(reference.MODELS) == set(reference.RUNNERS)
    table = json.loads(reference.THRESHOLDS.read_text())
    for exercise in with_model:
        assert records[exercise], f"no reference runs of {exercise} in autograder/results/"
        assert exercise in table, f"no thresholds for {exercise}: run `python -m autograder thresholds`"
    for r in records["features"]:
        assert r["exercise"] == "features" and r["model"] == "genrelab.baseline.logistic_regression"


def test_the_rule_is_applied_as_stated():
    """Full points from the lowest accuracy whose Wilson interval on the test tracks reaches the
    reference mean, never above the weakest reference run, rounded down to 0.01."""
    from genrelab import evaluation

    def runs(n):
        return [{"protocol": "synthetic:default", "seed": s, "accuracy": a, "interval95": [0, 1],
                 "data": {"dataset": "synthetic", "split": "x", "tracks": {"test": n}},
                 "hardware": {"device": "CPU"}} for s, a in enumerate([0.8, 0.75, 0.9, 0.85, 0.82])]

    # 40 test tracks, mean 0.824: 29/40 = 0.725 is the lowest accuracy whose Wilson interval
    # reaches 0.824 (28/40 = 0.700 reaches only 0.819).
    assert evaluation.wilson_interval(0.7, 40)[2] < 0.824 <= evaluation.wilson_interval(0.725, 40)[2]
    t = reference.derive_thresholds({"mlp": runs(40)})["mlp"]["synthetic"]
    assert t["threshold"] == 0.72 and t["rule"] == reference.RULE
    assert "seeds [0, 1, 2, 3, 4]" in t["provenance"] and "on 40 test tracks" in t["provenance"]
    # 4000 test tracks pin an accuracy down to 0.812: the weakest run (0.75) then sets it.
    assert reference.derive_thresholds({"mlp": runs(4000)})["mlp"]["synthetic"]["threshold"] == 0.75


@pytest.mark.slow
def test_a_freshly_prepared_sample_set_is_the_table_of_its_records(records, synthetic_data,
                                                                   monkeypatch):
    """The ``synthetic:default`` reference runs (which set the sample set's thresholds) were
    made on exactly the table that making and preparing the sample set gives today: its sha256
    is the ``table_sha256`` they record. Where it is not, the sample set or its features changed
    since: measure again (``python -m autograder reference ... --protocol synthetic:default``)."""
    table = synthetic_data / "prepared" / "synthetic" / "features_30_sec.csv"
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    recorded = {(e, r["data"]["table_sha256"]) for e, runs in records.items() for r in runs
                if r["protocol"] == "synthetic:default" and "table_sha256" in r["data"]}
    assert {e for e, _ in recorded} >= {"features", "mlp"}
    assert {sha for _, sha in recorded} == {digest}, (
        f"a fresh sample set's table has sha256 {digest}; the records: {sorted(recorded)}")
    # Segment models (chapter 5 on): the contents of the segment arrays each was trained on
    # (chapter 5's MFCC sequences, chapter 6's log-mel segments).
    from autograder.exercises import get
    from genrelab.dataset import segments_digest

    monkeypatch.setenv("GENRELAB_DATA_DIR", str(synthetic_data))
    on_segments = {(e, r["data"]["arrays_sha256"]) for e, runs in records.items() for r in runs
                   if r["protocol"] == "synthetic:default" and "arrays_sha256" in r["data"]}
    assert {e for e, _ in on_segments} >= {"rnn", "crnn", "autoencoder"}
    fresh = {e: segments_digest(get(e).inputs.split("_")[0], "synthetic")
             for e, _ in on_segments}
    stale = sorted((e, sha) for e, sha in on_segments if sha != fresh[e])
    assert not stale, (
        f"a fresh sample set's segment arrays have sha256 {fresh}; records made on other "
        f"arrays: {stale}")


def test_the_error_rule_is_the_mirror_of_the_accuracy_rule():
    """For an autoencoder's log-spectral distance (lower is better): full points up to the
    highest error whose Student-t interval over the test tracks still reaches the runs' mean,
    never below the worst run, rounded up; chance is the mean spectrum's error, rounded up."""
    from scipy import stats

    def run(seed, lsd, sd=2.0, tracks=40):
        return {"protocol": "synthetic:default", "seed": seed, "lsd": lsd, "track_sd": sd,
                "baseline": 8.123, "interval95": [lsd - 1, lsd + 1], "epochs": 10,
                "train_seconds": 1.0, "data": {"dataset": "synthetic", "split": "x",
                                               "tracks": {"test": tracks}},
                "hardware": {"device": "CPU", "device_name": "x", "backend": "tensorflow"}}

    runs = [run(s, v) for s, v in enumerate([6.0, 6.2, 6.1, 5.9, 6.3])]
    t = reference.derive_thresholds({"autoencoder": runs})["autoencoder"]["synthetic"]
    half = stats.t.ppf(0.975, 39) * 2.0 / np.sqrt(40)
    assert t["threshold"] == np.ceil((6.1 + half) * 100) / 100 and t["threshold"] > 6.3
    assert t["chance"] == 8.13 and t["rule"] == reference.RULE_LSD
    assert "highest 6.300 dB on 40 test tracks" in t["provenance"]
    # a worst run above the noise margin sets the threshold
    runs[4] = run(4, 7.5)
    worst = reference.derive_thresholds({"autoencoder": runs})["autoencoder"]["synthetic"]
    assert worst["threshold"] == 7.5
    # a reference no better than the mean spectrum cannot set a threshold
    runs[4] = run(4, 8.5)
    with pytest.raises(ValueError, match="not below the mean spectrum"):
        reference.derive_thresholds({"autoencoder": runs})
