"""Reference runs on any Keras backend: what a record says of its platform and code, that a run
reaches the recorded threshold, and that a JAX machine needs no TensorFlow.

``make test`` runs this file twice: with the default backend (TensorFlow) and with
``KERAS_BACKEND=jax``, so the GPU path (Keras 3 on JAX) is exercised on every change.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import reference

ROOT = Path(__file__).resolve().parents[1]


def record(protocol, seed, accuracy, backend="tensorflow", device="CPU", name="AMD EPYC",
           dataset="synthetic", tracks=40):
    return {"protocol": protocol, "seed": seed, "accuracy": accuracy, "epochs": 100,
            "train_seconds": 1.0, "interval95": [0, 1],
            "data": {"dataset": dataset, "split": "x", "tracks": {"test": tracks}},
            "hardware": {"device": device, "device_name": name, "backend": backend}}


def test_hardware_names_the_backend_that_trains_and_its_device():
    import keras

    hw = reference.hardware()
    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    assert hw["backend"] == backend
    assert hw["backend_version"] == __import__(module).__version__
    assert hw["keras"] == keras.__version__
    assert hw["device"] == ("GPU" if hw["gpus"] else "CPU")
    assert hw["device_name"] == (hw["gpus"][0] if hw["gpus"] else hw["cpu"])
    assert hw["python"].count(".") == 2 and hw["cores"] == os.cpu_count()


def test_code_version_is_git_head_and_says_whether_the_code_differs(tmp_path, monkeypatch):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                             "--untracked-files=no", "--", *reference.CODE_PATHS,
                             *(f":(exclude){p}" for p in reference.NOT_CODE)],
                            capture_output=True, text=True).stdout
    assert reference.code_version() == {"commit": head, "dirty": bool(status.strip())}
    # A copy without git (as sent to a GPU machine): the commit comes from $GENRELAB_COMMIT.
    monkeypatch.setenv("GENRELAB_COMMIT", "abc1234")
    assert reference.code_version(tmp_path) == {"commit": "abc1234", "dirty": None}


def test_the_reference_platform_is_a_gpu_with_five_seeds_else_tensorflow_on_the_cpu():
    cpu = [record("synthetic:default", s, a) for s, a in enumerate([0.8, 0.8, 0.9, 0.85, 0.8])]
    jax_cpu = [record("synthetic:default", s, 0.7, backend="jax") for s in range(5)]
    gpu = [record("synthetic:default", s, 0.9, backend="jax", device="GPU", name="NVIDIA H200")
           for s in range(5)]
    s = reference.summarize(cpu + jax_cpu)["synthetic:default"]
    assert s["platform"] == "tensorflow/CPU" and s["min"] == 0.8
    assert set(s["platforms"]) == {"tensorflow/CPU", "jax/CPU"}
    s = reference.summarize(cpu + jax_cpu + gpu)["synthetic:default"]
    assert s["platform"] == "jax/GPU (NVIDIA H200)" and s["mean"] == pytest.approx(0.9)
    # Four GPU seeds are not enough to set the figures.
    assert reference.summarize(cpu + gpu[:4])["synthetic:default"]["platform"] == "tensorflow/CPU"
    t = reference.derive_thresholds({"mlp": cpu + gpu})["mlp"]["synthetic"]
    gpu_only = reference.derive_thresholds({"mlp": gpu})["mlp"]["synthetic"]["threshold"]
    cpu_only = reference.derive_thresholds({"mlp": cpu})["mlp"]["synthetic"]["threshold"]
    assert t["threshold"] == gpu_only != cpu_only  # the GPU runs set it
    assert "jax/GPU (NVIDIA H200)" in t["provenance"]
    assert "beside it tensorflow/CPU: mean 0.830 over 5 seeds" in t["provenance"]


def test_the_gtzan_provenance_states_the_gap_between_the_two_feature_tables():
    runs = ([record("kaggle:fault-filtered", s, 0.55, dataset="gtzan", tracks=290)
             for s in range(5)]
            + [record("gtzan-503:default", s, 0.62, dataset="gtzan-503", tracks=131)
               for s in range(5)]
            + [record("kaggle-on-gtzan-503:default", s, 0.60, dataset="kaggle-on-gtzan-503",
                      tracks=131) for s in range(5)])
    table = reference.derive_thresholds({"mlp": runs})["mlp"]
    assert set(table) == {"gtzan", "gtzan-503"}  # the comparison sets no threshold
    assert ("the course's features give 0.620 and Kaggle's table 0.600, a gap of +0.020"
            in table["gtzan"]["provenance"])


@pytest.mark.slow
@pytest.mark.parametrize("exercise", sorted(reference.MODELS))
def test_a_reference_run_reaches_the_recorded_threshold_and_records_its_platform(
        exercise, synthetic_env, tmp_path, monkeypatch):
    """One seed of the reference model on the sample set, through the command's own code, into
    a throw-away results folder: the record names backend, device and commit; it replaces this
    platform's earlier run of the protocol and keeps other platforms' runs; and its accuracy is
    at least the recorded threshold (the one students are graded against). The chapter 5 LSTM
    and the chapter 6 CRNN take minutes per run on 2 cores (more on CPU JAX): here they train 3
    epochs, and the test checks the run and its record; that such a model reaches the threshold
    is checked on the reference solution, which trains the same network
    (``test_notebooks.py::test_solution_model_reaches_the_recorded_threshold``)."""
    monkeypatch.setenv("GENRELAB_RESULTS", str(tmp_path))
    elsewhere = record("synthetic:default", 0, 0.5, backend="torch", device="GPU", name="X")
    reference.save_records(exercise, [elsewhere])
    import keras

    quick = exercise in ("rnn", "crnn", "autoencoder")
    if quick:  # the LSTM, the CRNN, the autoencoder: minutes per run on 2 cores, so a few
        # epochs only (below)
        import functools
        import importlib

        module = importlib.import_module(reference.MODELS[exercise][0])
        monkeypatch.setattr(module, "fit", functools.partial(module.fit, epochs=3))
        monkeypatch.setattr(reference, "HEARD_SEGMENTS", 2)  # Griffin-Lim: seconds each
    args = argparse.Namespace(exercise=exercise, protocol=["synthetic:default"], seeds=1)
    reference.main(args)
    first = reference.load_records(exercise)[1]
    # Again, with a runner that returns a new record at once: it replaces, never duplicates.
    monkeypatch.setitem(reference.RUNNERS, exercise,
                        lambda protocol, seed: {**first, "date": "again"})
    reference.main(args)
    runs = reference.load_records(exercise)
    assert len(runs) == 2 and runs[0] == elsewhere and runs[1] == {**first, "date": "again"}
    run = runs[1]
    assert run["hardware"] == reference.hardware()
    assert run["code"] == reference.code_version()
    if quick and exercise == "autoencoder":
        assert run["epochs"] <= 3 and 0 < run["lsd"] and run["baseline"] > 0
        assert run["interval95"][0] < run["lsd"] < run["interval95"][1] and run["track_sd"] > 0
        assert 0 < run["ceiling"] and 0 < run["heard"] and run["heard_segments"] > 0
        return
    if quick:
        assert run["epochs"] <= 3 and 0 <= run["accuracy"] <= 1
        return
    threshold = json.loads(reference.THRESHOLDS.read_text())[exercise]["synthetic"]["threshold"]
    assert run["accuracy"] >= threshold, (
        f"{exercise}'s reference model reached {run['accuracy']:.3f} on the sample set on "
        f"{reference.platform_of(run)}, below the recorded threshold {threshold}")


NO_TENSORFLOW = """
import importlib.abc, sys
class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("no TensorFlow on this machine (blocked by the test)")
sys.meta_path.insert(0, NoTensorFlow())
from autograder.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_jax_machine_without_tensorflow_trains_and_records(synthetic_env, tmp_path):
    """The GPU recipe: Keras 3 on JAX, TensorFlow not installed. Here JAX runs on the CPU, with
    TensorFlow made unimportable; the run trains, records ``jax`` and never imports TensorFlow.
    (JAX's CPU build is in requirements.txt.)"""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "GENRELAB_RESULTS": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, "reference", "mlp",
                           "--protocol", "synthetic:default", "--seeds", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = json.loads((tmp_path / "mlp.json").read_text())["runs"]
    assert run["hardware"]["backend"] == "jax" and run["hardware"]["device"] == "CPU"
    assert "jax/CPU" in done.stdout
