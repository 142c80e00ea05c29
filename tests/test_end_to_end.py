"""The whole grading path on a small embedded sample set, in temporary data and course folders:
synthesize -> prepare -> train an MLP -> submit -> ``python -m autograder grade`` -> gradebook.
A second student hands in the blank notebook and a model that always says blues."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_scripts.prepare import prepare
from data_scripts.synthetic import make_synthetic

ROOT = Path(__file__).resolve().parents[1]
PROVISIONAL = {"threshold": 0.3, "chance": 0.1, "rule": "a provisional rule for the tests",
               "provenance": "tests/test_end_to_end.py, not a measurement"}


@pytest.mark.slow
def test_a_class_is_graded_into_the_gradebook(tmp_path, monkeypatch):
    import keras
    from nbgrader.api import Gradebook

    from genrelab import dataset, mlp

    data, course = tmp_path / "data", tmp_path / "course"
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"mlp": {"synthetic": PROVISIONAL}}))
    for name, value in {"GENRELAB_DATA_DIR": data, "GENRELAB_COURSE_DIR": course,
                        "GENRELAB_DATASET": "synthetic", "GENRELAB_THRESHOLDS": thresholds}.items():
        monkeypatch.setenv(name, str(value))
    prepare(make_synthetic(data / "synthetic", clips_per_genre=10, duration=6.0),
            data / "prepared" / "synthetic", progress=False)

    table = dataset.load_table("30s")
    train, valid = dataset.xy(table, "train"), dataset.xy(table, "valid")
    model = mlp.honest_mlp(train[0])
    mlp.fit(model, train, valid, epochs=150, patience=20)
    blues = keras.Sequential([keras.Input((train[0].shape[1],)),
                              keras.layers.Dense(10, activation="softmax")])
    blues.layers[-1].set_weights([np.zeros((train[0].shape[1], 10), np.float32),
                                  np.eye(10, dtype=np.float32)[0]])
    submissions = tmp_path / "submissions"
    for student, notebook, submitted in (("good", ROOT / "solutions", model),
                                         ("bad", ROOT / "exercises", blues)):
        folder = submissions / student / "mlp"
        folder.mkdir(parents=True)
        shutil.copy(notebook / "mlp" / "mlp.ipynb", folder)
        submitted.save(folder / "model.keras")

    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "mlp", "--submissions",
                           str(submissions)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    grades = pd.read_csv(course / "grades" / "mlp.csv").set_index("student")
    good, bad = grades.loc["good"], grades.loc["bad"]
    assert good.status == "ok", good.message
    assert good.notebook_score > 0, "the solution notebook's tests earn points"
    assert good.model_accuracy >= PROVISIONAL["threshold"] and good.model_score == 10
    assert good.total == good.notebook_score + 10
    assert bad.model_accuracy == pytest.approx(0.1) and bad.model_score == 0
    assert bad.notebook_score == 0 and "below the threshold 0.30" in bad.message

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "genre-lab") as gb:
        for student, row in grades.iterrows():
            grade = gb.find_grade("model_accuracy", "mlp", "mlp", student)
            assert grade.manual_score == row.model_score and not grade.needs_manual_grade
            comment = gb.find_comment("model_accuracy", "mlp", "mlp", student).manual_comment
            assert f"{row.model_accuracy:.3f}" in comment and "0.30" in comment
            assert PROVISIONAL["provenance"] in comment
            assert gb.find_submission("mlp", student).score == row.total
    for student in grades.index:
        feedback = course / "feedback" / student / "mlp"
        assert (feedback / "mlp.html").is_file() and (feedback / "model_report.md").is_file()
    assert (course / "submitted" / "good" / "mlp" / "model.keras").is_file()
