"""Any Keras backend: the course's models, losses, training loops and metrics use Keras 3 APIs
and ``keras.ops`` only, never TensorFlow itself, so the same code runs on TensorFlow, JAX and
PyTorch. (``make test`` also runs the reference-run and grading tests under
``KERAS_BACKEND=jax``; this test keeps TensorFlow calls from creeping in where those do not
reach: the book, the solutions, the exercises.)"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TENSORFLOW = re.compile(r"^\s*(import tensorflow|from tensorflow)\b|\btf\.[A-Za-z_]", re.M)
ALLOWED = {
    # The hardware probe asks whichever backend trained which GPUs it used.
    ("autograder/reference.py", "tf.config"),
    # Chapter 4's port of musicnn reads a TensorFlow 1 checkpoint (the only reader of that
    # format), and its proof runs the original TF1 extractor in a process of its own; the
    # network it builds (genrelab/transfer.py) is Keras 3 only.
    ("data_scripts/port_musicnn.py", "import tensorflow as tf"),
    ("data_scripts/port_musicnn.py", "tf.compat.v1.train."),
}


def sources():
    for folder in ("genrelab", "autograder", "data_scripts", "book", "solutions", "exercises"):
        for path in sorted((ROOT / folder).rglob("*")):
            if ".ipynb_checkpoints" in path.parts or path.suffix not in (".py", ".ipynb"):
                continue
            if path.suffix == ".py":
                yield path, path.read_text()
            else:
                cells = json.loads(path.read_text())["cells"]
                yield path, "\n".join("".join(c["source"]) for c in cells
                                      if c["cell_type"] == "code")


def tensorflow_uses(text, rel):
    found = []
    for match in TENSORFLOW.finditer(text):
        line = text[text.rfind("\n", 0, match.start()) + 1:text.find("\n", match.end())]
        if not any(rel == path and allowed in line for path, allowed in ALLOWED):
            found.append(line.strip())
    return found


def test_the_pattern_finds_tensorflow_calls():
    assert tensorflow_uses("import tensorflow as tf\nx = tf.reduce_mean(y)\n", "x.py") == [
        "import tensorflow as tf", "x = tf.reduce_mean(y)"]
    assert tensorflow_uses("keras.ops.mean(y)  # not tf.anything in a comment? still flagged",
                           "x.py")
    assert tensorflow_uses("import keras\nkeras.ops.mean(y)\n", "x.py") == []


@pytest.mark.parametrize("path, text", list(sources()),
                         ids=[str(p.relative_to(ROOT)) for p, _ in sources()])
def test_no_tensorflow_outside_keras(path, text):
    rel = path.relative_to(ROOT).as_posix()
    assert tensorflow_uses(text, rel) == [], (
        f"{rel} calls TensorFlow directly: use Keras 3 APIs and keras.ops, so that it runs on "
        "every backend")
