"""Thresholds are measured numbers with provenance: they follow, by the stated rule, from the
recorded reference runs in ``autograder/results/``."""
import json

import pytest

from autograder import reference


@pytest.fixture(scope="module")
def records():
    return {e: reference.load_records(e) for e in reference.RUNNERS}


def test_thresholds_file_follows_from_the_records(records):
    assert json.loads(reference.THRESHOLDS.read_text()) == reference.derive_thresholds(records)


def test_every_record_says_what_how_and_where(records):
    for exercise, runs in records.items():
        assert len(runs) >= 5, f"{exercise}: fewer than 5 reference runs"
        for r in runs:
            assert {"seed", "accuracy", "interval95", "data", "hardware", "date"} <= set(r)
            assert r["hardware"]["device"] in ("CPU", "GPU") and r["data"]["table_sha256"]
            assert r["interval95"][0] <= r["accuracy"] <= r["interval95"][1]


@pytest.mark.parametrize("exercise", ["features", "mlp"])
def test_graded_data_sets_have_five_seeds_and_a_threshold_below_every_run(records, exercise):
    table = reference.derive_thresholds(records)
    assert {"synthetic", "gtzan"} <= set(table[exercise])
    summary = reference.summarize(records[exercise])
    for dataset, t in table[exercise].items():
        protocol = reference.GRADED_PROTOCOL.get(dataset, f"{dataset}:default")
        assert len(summary[protocol]["seeds"]) >= 5
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
    runs = [{"protocol": "synthetic:default", "seed": s, "accuracy": a, "interval95": [0, 1],
             "data": {"dataset": "synthetic", "split": "x", "tracks": {"test": 40}},
             "hardware": {"device": "CPU"}} for s, a in enumerate([0.8, 0.75, 0.9, 0.85, 0.82])]
    t = reference.derive_thresholds({"mlp": runs})["mlp"]["synthetic"]
    assert t["threshold"] == 0.67   # floor(0.9 * 0.75, 0.01)
    assert "seeds [0, 1, 2, 3, 4]" in t["provenance"]
