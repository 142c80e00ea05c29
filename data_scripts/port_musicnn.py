"""``python -m data_scripts port-musicnn``: musicnn's TF1 checkpoint as a Keras 3 model (chapter 4).

The PyPI package ``musicnn`` (installed ``--no-deps``: its metadata pins NumPy < 1.17 and
TensorFlow 1) carries music-tagging CNNs as TensorFlow 1 checkpoints. This script reads one with
``tf.compat.v1.train.NewCheckpointReader`` (TensorFlow needed here, not where the port is used),
sets its variables into :func:`genrelab.transfer.musicnn` and saves
``<data>/models/<architecture>.keras`` with the tag names beside it (``<architecture>.json``):
plain Keras 3, loadable in safe mode on every backend (tested on TensorFlow and JAX). Nothing of it is committed.

``--verify AUDIO`` then proves the port: the original extractor (``musicnn.extractor``) runs on
the file in a separate process -- TensorFlow 1 graph code, which needs ``tf_keras`` (installed
``--no-deps``) and ``TF_USE_LEGACY_KERAS=1`` -- and the port runs on the same file; the script
prints the largest difference of the taggram and of the penultimate and pooled features, and
fails above :data:`TOLERANCE`. What the comparison works around in the original, each
measured by ``--verify``:

- it keeps random weights, silently, when its checkpoint fails to restore: the separate process
  records whether ``Saver.restore`` succeeded, and the check refuses a run in which it did not;
- it computes its input in float16, where loud bands overflow to infinity and their patches
  come out as NaN (:func:`genrelab.transfer.musicnn_input`): the networks are compared on the
  port's input, and the two inputs where the original's stays finite;
- its loop over batches of patches returns the first batch's penultimate features for every
  later batch: it runs here on one batch of all the patches.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TOLERANCE = 1e-4
"""The largest difference allowed between the original's outputs and the port's, on any output,
measured as ``|original - port| / max(1, |original|)``: absolute for values up to 1 (the tags'
probabilities, most features), relative above (pooled features reach tens). float32 arithmetic
in another order (a TensorFlow 1 graph against Keras 3 on any backend), nothing more."""

INPUT_TOLERANCE = 4e-3
"""The largest difference allowed between the original's input patches and the port's, where
the original's stay finite: float16 rounding of ``10000 * mel + 1`` and of its log10 (values
from 4 to 8 sit on float16 steps of 2**-8, so half a step is 2e-3)."""

INSTALL = "pip install --no-deps musicnn==0.1.0"


def package_dir():
    """The installed ``musicnn`` package's folder (found without importing it: its modules
    import TensorFlow 1 APIs). ``FileNotFoundError`` says how to install it."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the musicnn package is not installed: {INSTALL} "
                                "(make setup does it)")
    return Path(list(spec.submodule_search_locations)[0])


def checkpoint_path(architecture="MTT_musicnn"):
    """The checkpoint's prefix (``<package>/<architecture>/``), checked to be complete."""
    folder = package_dir() / architecture
    if not (folder / ".index").is_file() or not (folder / ".data-00000-of-00001").is_file():
        raise FileNotFoundError(f"no {architecture} checkpoint in {folder} (.index and "
                                ".data-00000-of-00001): reinstall musicnn ({INSTALL})")
    return str(folder) + os.sep


def read_checkpoint(architecture="MTT_musicnn"):
    """``{variable name: array}`` of the checkpoint, read by TensorFlow's checkpoint reader."""
    try:
        import tensorflow as tf
    except ImportError as err:
        raise RuntimeError("reading a TF1 checkpoint needs TensorFlow (pip install "
                           "tensorflow-cpu); the saved port then runs without it") from err
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint_path(architecture))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def labels(architecture="MTT_musicnn"):
    """The tag names of the checkpoint's 50 outputs, from the package's configuration file
    (read as text: importing it is harmless, but the package's other modules are not)."""
    import ast

    source = (package_dir() / "configuration.py").read_text()
    wanted = "MTT_LABELS" if architecture.startswith("MTT") else "MSD_LABELS"
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == wanted:
            return list(ast.literal_eval(node.value))
    raise ValueError(f"no {wanted} in {package_dir() / 'configuration.py'}")


def port_path(architecture="MTT_musicnn"):
    from genrelab.dataset import data_dir

    return data_dir() / "models" / f"{architecture}.keras"


def port(architecture="MTT_musicnn", out=None):
    """Build the Keras 3 network, set the checkpoint's weights, save it with its tags beside it
    (``.json``). Both are written to temporary files first and moved into place, the model
    last: an interrupted run leaves neither half-written. Returns the path."""
    from genrelab import transfer

    out = Path(out or port_path(architecture))
    if out.suffix != ".keras":
        raise ValueError(f"the port is saved in Keras' format: name it *.keras, not {out.name}")
    model = transfer.musicnn(architecture)
    transfer.load_checkpoint_weights(model, read_checkpoint(architecture))
    about = json.dumps({"architecture": architecture, "labels": labels(architecture),
                        "checkpoint": checkpoint_path(architecture), "frames": transfer.FRAMES,
                        "input": "log10(10000 * mel + 1), 16 kHz, n_fft 512, hop 256, 96 bands"},
                       indent=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial, partial_about = out.with_name(out.stem + ".partial.keras"), out.with_suffix(".json.partial")
    try:
        model.save(partial)
        partial_about.write_text(about)
        os.replace(partial_about, out.with_suffix(".json"))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
        partial_about.unlink(missing_ok=True)
    return out


def load_port(architecture="MTT_musicnn", path=None):
    """The saved port, loaded in Keras' safe mode. ``FileNotFoundError`` says how to make it."""
    import keras

    path = Path(path or port_path(architecture))
    if not path.is_file():
        raise FileNotFoundError(f"no musicnn port at {path}: run python -m data_scripts "
                                f"port-musicnn (needs TensorFlow and {INSTALL})")
    return keras.saving.load_model(path, safe_mode=True)


_ORIGINAL = r"""
import json, sys
import numpy as np
import tensorflow as tf

audio, architecture, patches_file, out, frames = sys.argv[1:5] + [int(sys.argv[5])]
restored = {"ok": False, "error": None, "path": None}
_restore = tf.compat.v1.train.Saver.restore


def restore(self, sess, save_path):  # the extractor hides a failed restore: record it
    restored["path"] = save_path
    try:
        result = _restore(self, sess, save_path)
    except Exception as err:
        restored["error"] = repr(err)
        raise
    restored["ok"] = True
    return result


tf.compat.v1.train.Saver.restore = restore
from musicnn import extractor as original
restored["package"] = original.__file__

with np.errstate(over="ignore"):  # its float16 overflow (see genrelab.transfer.musicnn_input)
    own_input, _ = original.batch_data(audio, frames, frames)
if patches_file != "-":  # the network alone: run it on the given patches
    given = np.load(patches_file)
    original.batch_data = lambda audio_file, n_frames, overlap: (given, None)
# One batch of every patch: the extractor's loop over later batches appends the *first* batch's
# penultimate and cnn features again (it unpacks them into other names), never their own.
original.config.BATCH_SIZE = len(given if patches_file != "-" else own_input)
with np.errstate(over="ignore", invalid="ignore"):
    taggram, tags, features = original.extractor(audio, model=architecture, input_length=3,
                                                 extract_features=True)
np.savez(out, taggram=taggram, penultimate=features["penultimate"],
         mean_pool=features["mean_pool"], max_pool=features["max_pool"],
         own_input=own_input.astype(np.float32))
print("\nRESTORED " + json.dumps(restored))
"""


def original_outputs(audio, architecture="MTT_musicnn", patches=None, timeout=600):
    """The original extractor (``musicnn.extractor.extractor``, 3 s patches) on ``audio``, in a
    separate process with ``TF_USE_LEGACY_KERAS=1`` (``tf_keras`` must be installed): its
    taggram and features, and ``own_input``, the patches its own preprocessing makes. With
    ``patches`` (``(n, 187, 96)``), its network runs on those instead of its own: the network
    alone is compared. ``RuntimeError`` when that process fails or when its checkpoint did not
    restore."""
    from genrelab import transfer

    expected = checkpoint_path(architecture)
    if importlib.util.find_spec("tf_keras") is None:
        raise RuntimeError("the original musicnn extractor needs tf_keras (TensorFlow 1 layers "
                           "on Keras 2): pip install --no-deps -r requirements-nodeps.txt")
    with tempfile.TemporaryDirectory() as tmp:
        out, given = Path(tmp) / "original.npz", "-"
        if patches is not None:
            given = str(Path(tmp) / "patches.npy")
            np.save(given, np.asarray(patches, dtype=np.float32))
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
               "CUDA_VISIBLE_DEVICES": ""}
        try:
            done = subprocess.run([sys.executable, "-c", _ORIGINAL, str(audio), architecture,
                                   given, str(out), str(transfer.FRAMES)],
                                  capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"the original musicnn extractor ran past {timeout} s on "
                               f"{audio}") from err
        line = next((l for l in done.stdout.splitlines() if l.startswith("RESTORED ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"the original musicnn extractor failed:\n{done.stderr[-3000:]}")
        restored = json.loads(line[len("RESTORED "):])
        if not restored["ok"]:
            raise RuntimeError(f"the original extractor did not restore its checkpoint "
                               f"{restored['path']} ({restored['error']}): its outputs come "
                               f"from random weights")
        if os.path.realpath(restored["path"]) != os.path.realpath(expected):
            raise RuntimeError(f"the original extractor restored {restored['path']} (package "
                               f"{restored['package']}), not the checkpoint the port reads, "
                               f"{expected}")
        with np.load(out) as data:
            return {k: data[k] for k in data.files}


def compare(audio, architecture="MTT_musicnn", model=None):
    """The port against the original on one audio file. Returns ``{"network": {output: largest
    difference, as :data:`TOLERANCE` measures it}, "input": {...}}``: the network compared on
    the same patches (the port's :func:`genrelab.transfer.musicnn_input`), and the two
    preprocessings compared where the original's float16 arithmetic stays finite (``largest``; ``overflowed``, the share of
    the original's input values that became infinite; ``patches``, how many of its ``of``
    patches hold one). ``ValueError`` when they disagree on shapes or a difference is not
    finite."""
    import librosa

    from genrelab import transfer

    model = model or load_port(architecture)
    y, sr = librosa.load(audio, sr=transfer.SR)
    patches = transfer.musicnn_input(y, sr)
    ported = dict(zip(transfer.OUTPUTS, (np.asarray(p) for p in model.predict(patches, verbose=0))))
    original = original_outputs(audio, architecture, patches)
    network = {}
    for name in transfer.OUTPUTS:
        value = original[name].reshape(len(patches), -1)
        if value.shape != ported[name].shape:
            raise ValueError(f"{name}: the original gives {value.shape}, the port "
                             f"{ported[name].shape}")
        difference = float(np.max(np.abs(value - ported[name]) / np.maximum(1, np.abs(value))))
        if not np.isfinite(difference):
            raise ValueError(f"{name}: the difference is {difference} (a NaN or infinite output)")
        network[name] = difference
    own = original["own_input"]
    if own.shape != patches.shape:
        raise ValueError(f"the original's input has shape {own.shape}, the port's {patches.shape}")
    finite = np.isfinite(own)
    if not finite.any():
        raise ValueError(f"every value of the original's input overflowed on {audio}: the "
                         "preprocessings cannot be compared there")
    return {"network": network,
            "input": {"largest": float(np.max(np.abs(own[finite] - patches[finite]))),
                      "overflowed": float(1 - finite.mean()),
                      "patches": int((~finite).any(axis=(1, 2)).sum()), "of": len(patches)}}


def add_arguments(parser):
    parser.add_argument("--architecture", default="MTT_musicnn",
                        choices=["MTT_musicnn", "MSD_musicnn"])
    parser.add_argument("--out", type=Path, help="where to save the port (default "
                        "<data>/models/<architecture>.keras)")
    parser.add_argument("--verify", type=Path, metavar="AUDIO",
                        help="then compare the port with the original extractor on this file")


def main(args):
    out = port(args.architecture, args.out)
    print(f"ported {args.architecture} to {out}")
    if args.verify:
        found = compare(args.verify, args.architecture, load_port(args.architecture, out))
        for name, value in found["network"].items():
            print(f"  {name}: largest difference {value:.2e}")
        inputs = found["input"]
        print(f"  input: largest difference {inputs['largest']:.2e} where the original's float16 "
              f"stays finite; it overflowed in {100 * inputs['overflowed']:.3f}% of the values, "
              f"in {inputs['patches']} of {inputs['of']} patches")
        worst = max(found["network"].values())
        if worst > TOLERANCE or inputs["largest"] > INPUT_TOLERANCE:
            raise RuntimeError(f"the port differs from the original: network {worst:.2e} "
                               f"(tolerance {TOLERANCE:.0e}), input {inputs['largest']:.2e} "
                               f"(tolerance {INPUT_TOLERANCE:.0e})")
        print(f"the port's network equals the original within {TOLERANCE:.0e} (largest "
              f"{worst:.2e}); its input within {INPUT_TOLERANCE:.0e}")
    return 0
