"""Evaluate one saved model on the held-out test split, in a separate, limited process.

    python -m autograder.evaluate --exercise mlp --model PATH [--model PATH2] --dataset NAME
                                  [--inputs SPLIT.npz] [--memory-mb N]

loads each model with ``keras.saving.load_model(path, safe_mode=True, compile=False)`` (no
student code runs: a ``Lambda`` layer or an unknown custom class is refused), checks its input
and output shapes and the exercise's structural limits (weight budget, required layers:
:meth:`autograder.exercises.Exercise.structure_problems`, here, in the grader's process, whatever
the notebook's own tests said), predicts the test split that the grader reads from the course's
prepared data (or from ``--inputs``, the split saved once per batch; never anything from the
student) and prints one JSON line per model: ``accuracy``, its Wilson 95% interval
``low``/``high`` and ``n`` (test tracks), or ``problem`` and ``message``. An autoencoder
(``metric="lsd"``, chapter 7) gives ``lsd`` instead: the log-spectral distance in dB between the
test segments and ``decoder(encoder(segment))`` -- the two models called one after the other, so
nothing but the code reaches the decoder -- averaged per track, with the Student-t 95% interval
over tracks.

:func:`evaluate_submission` runs that process with a wall-clock timeout and a memory limit and
turns what happened into a :class:`Result` with a score. **Score rule:** full points at or above
the exercise's threshold, none at or below chance, linear in between (for an error such as the
autoencoder's: full points at or below the threshold, none at or above the error of the training
split's mean spectrum, linear in between).

Memory limit: ``RLIMIT_DATA`` (private writable memory: heap, tensors, thread stacks), set by the
child itself before it imports anything heavy. ``RLIMIT_AS`` is too blunt for TensorFlow: it
reserves address space it never touches (grading the chapter 3 MLP: 2.3 GB of address space for
660 MB resident, and more with more cores), so an AS limit fails healthy models. Measured on
2 cores (TF 2.21, CPU): the MLP needs ``RLIMIT_DATA`` of 600 MB (530 MB used); at 500 MB TensorFlow
cannot start its threads, at 300 MB Python cannot import it. A model that needs more than the
limit fails with TensorFlow's OOM error, reported as *out of memory*. (The limit is not set in a
``preexec_fn``: that is unsafe when the parent has threads, as it does once TensorFlow is
imported.) The child sees no GPU, so a score is the same on every machine.
"""
import argparse
import importlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder import exercises
from autograder.reference import THRESHOLDS

TIMEOUT_S = 300
MEMORY_MB = 4096
_MEMORY_ERRORS = re.compile(
    r"MemoryError|ResourceExhausted|OOM when allocating|bad_alloc|pthread_create|"  # TensorFlow
    r"Cannot allocate memory|RESOURCE_EXHAUSTED|"  # XLA (JAX)
    r"Out of memory (?:while trying to allocate|allocating)|"
    r"CUDA out of memory|OutOfMemoryError|DefaultCPUAllocator: can't allocate memory|"  # PyTorch
    r"not enough memory")
"""What running out of memory prints, on TensorFlow, JAX (XLA) and PyTorch."""
_LOG_NOISE = re.compile(
    r"^(WARNING: All log messages before absl|[IWEF]\d{4} |\*\*\* |\s*@ |"  # absl/glog (TF, XLA)
    r"(WARNING|INFO|DEBUG):[\w.]+:|"           # Python logging (jax._src.xla_bridge, ...)
    r"\S+:\d+: \w*Warning: |\s+warnings\.warn\(|"  # Python warnings and their source line
    r"An NVIDIA GPU may be present|Platform '\w+' is experimental|"  # JAX without CUDA
    r"To enable the following instructions|oneDNN custom operations)")  # TensorFlow start-up
"""Lines that backends print on stderr without anything having gone wrong."""


class ModelProblem(Exception):
    """Why a submitted model cannot be graded: ``problem`` (a short code) and a message."""

    def __init__(self, problem, message):
        super().__init__(message)
        self.problem, self.message = problem, message


def check_file(path):
    """The model file exists and is a ``.keras`` archive (a zip), or :class:`ModelProblem`."""
    path = Path(path)
    if not path.is_file():
        raise ModelProblem("missing", f"no {path.name} in {path.parent}: run the notebook to the "
                                      f"end, its last step saves the model as {path.name}")
    if not zipfile.is_zipfile(path):
        raise ModelProblem("unreadable", f"{path.name} is not a Keras model file (a .keras zip "
                                         "archive): save it with model.save(...) and hand it in "
                                         "unchanged")


def load_model(path, exercise):
    """Load a submitted model in safe mode, or raise :class:`ModelProblem`."""
    check_file(path)
    import keras

    for module in exercise.custom_modules:  # the course's own registered layers
        importlib.import_module(module)
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # anything a broken or hostile file can raise
        text = str(err)
        if "safe_mode" in text:
            raise ModelProblem("unsafe", f"{Path(path).name} was refused by Keras' safe mode: "
                                         "it holds Python code (a Lambda layer?). Use Keras' "
                                         "built-in layers and genrelab's registered layers.")
        unknown = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
        if unknown:
            raise ModelProblem("unsafe", f"{Path(path).name} uses '{unknown.group(1)}', code the "
                                         "grader does not run: use Keras' built-in layers and "
                                         "genrelab's registered layers.")
        raise ModelProblem("unreadable", f"{Path(path).name} cannot be loaded as a Keras model: "
                                         f"{type(err).__name__}: {text.splitlines()[0][:300]}")


def check_shapes(model, exercise):
    """The model takes one batch of the exercise's inputs and outputs one probability per genre."""
    want_in, want_out = exercise.expected_shapes
    try:
        got_in, got_out = model.input_shape, model.output_shape
    except (AttributeError, ValueError) as err:
        raise ModelProblem("shape", f"the model has no fixed input/output shape ({err})")
    if got_in != want_in or got_out != want_out:
        what = ("a rebuilt segment" if exercise.output_shape else "one probability per genre")
        raise ModelProblem("shape", f"the grader's {exercise.name} model expects input {want_in} "
                                    f"({exercise.inputs}) and output {want_out} ({what}); this "
                                    f"one has input {got_in} and output {got_out}")


def check_structure(model, exercise):
    """The exercise's structural limits hold on the loaded model, or :class:`ModelProblem`."""
    problems = exercise.structure_problems(model)
    if problems:
        raise ModelProblem("structure", "The saved model breaks the exercise's limits: "
                                        + "; ".join(problems) + ".")


def save_inputs(exercise, dataset, path, split="test"):
    """Save a split's ``(X, y, track_ids)`` to ``path`` (npz) once, for every evaluation of a
    batch (``--inputs``)."""
    import numpy as np

    X, y, tracks = exercise.split_data(dataset, split)
    tmp = Path(path).with_name(Path(path).name + ".tmp.npz")
    np.savez(tmp, X=X, y=y, tracks=tracks.astype(str))
    os.replace(tmp, path)
    return Path(path)


def measure(model, exercise, dataset, split="test", inputs=None):
    """Accuracy on a split (the held-out test split unless told), per track:
    ``{accuracy, low, high, n}`` (an autoencoder: :func:`measure_reconstruction`); ``inputs``:
    the split saved by :func:`save_inputs`."""
    import numpy as np

    from genrelab.evaluation import accuracy_interval, track_level

    if inputs:
        with np.load(inputs) as saved:
            X, y, tracks = saved["X"], saved["y"], saved["tracks"]
    else:
        X, y, tracks = exercise.split_data(dataset, split)
    if exercise.metric == "lsd":
        return measure_reconstruction(model, X, tracks, exercise.max_code)
    probs = np.asarray(model.predict(X, batch_size=256, verbose=0))
    if not np.all(np.isfinite(probs)):
        bad = int((~np.isfinite(probs)).any(axis=tuple(range(1, probs.ndim))).sum())
        raise ModelProblem("nan", f"the model outputs NaN or infinite values for {bad} of "
                                  f"{len(X)} test examples")
    ids, truth, pred = track_level(probs, y, tracks)
    acc, low, high = accuracy_interval(truth, pred)
    confusion = np.zeros((probs.shape[-1],) * 2, dtype=int)  # rows: true genre, columns: said
    np.add.at(confusion, (truth.astype(int), pred), 1)
    return {"accuracy": acc, "low": low, "high": high, "n": len(ids),
            "confusion": confusion.tolist()}


TOLERANCE_DB = 0.01
"""How far (in dB) the whole model's output may be from ``decoder(encoder(x))``."""


def measure_reconstruction(model, X, tracks, max_code=None):
    """``{lsd, low, high, n}``: the log-spectral distance (dB) of ``decoder(encoder(x))`` on the
    segments ``X`` (codes of at most ``max_code`` numbers, checked on the codes themselves), a
    track's segments averaged, with the Student-t 95% interval over tracks. The whole model must
    give the same output (within :data:`TOLERANCE_DB`): else something other than the code
    reaches its output."""
    import numpy as np

    from genrelab.autoencoders import mean_interval, track_lsd

    enc, dec = model.get_layer("encoder"), model.get_layer("decoder")
    code = enc.predict(X, batch_size=256, verbose=0)
    if isinstance(code, (list, tuple, dict)) or np.ndim(code) != 2:
        raise ModelProblem("structure", "the encoder must give one flat code per segment")
    if max_code is not None and np.shape(code)[1] > max_code:
        raise ModelProblem("structure", f"the encoder gives codes of {np.shape(code)[1]} "
                                        f"numbers, more than the {max_code} allowed")
    rebuilt = np.asarray(dec.predict(np.asarray(code, dtype=np.float32), batch_size=256,
                                     verbose=0))
    if not np.all(np.isfinite(rebuilt)):
        bad = int((~np.isfinite(rebuilt)).any(axis=tuple(range(1, rebuilt.ndim))).sum())
        raise ModelProblem("nan", f"the decoder outputs NaN or infinite values for {bad} of "
                                  f"{len(X)} test segments")
    whole = np.asarray(model.predict(X[:64], batch_size=64, verbose=0))
    if not np.all(np.isfinite(whole)):
        raise ModelProblem("nan", "the model outputs NaN or infinite values for test segments")
    gap = float(np.max(np.abs(whole - rebuilt[:64])))
    if gap > TOLERANCE_DB:
        raise ModelProblem("structure", f"the model's output differs from decoder(encoder(x)) "
                                        f"by up to {gap:.3g} dB: its output must come from the "
                                        "code alone")
    ids, per_track = track_lsd(X, rebuilt, tracks)
    lsd, low, high = mean_interval(per_track)
    return {"lsd": lsd, "low": low, "high": high, "n": len(ids)}


def main(argv=None):
    """The child process: load, check, measure, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m autograder.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--model", type=Path, required=True, action="append",
                        help="a model file (repeatable: one JSON line each, in order)")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--inputs", type=Path, help="the split, saved by save_inputs")
    parser.add_argument("--memory-mb", type=int, default=MEMORY_MB)
    parser.add_argument("--split", default="test", choices=("test", "valid"))
    args = parser.parse_args(argv)
    limit = args.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    exercise = exercises.get(args.exercise)
    for path in args.model:
        try:
            model = load_model(path, exercise)
            check_shapes(model, exercise)
            check_structure(model, exercise)
            outcome = measure(model, exercise, args.dataset, args.split, args.inputs)
        except ModelProblem as problem:
            outcome = {"problem": problem.problem, "message": problem.message}
        print(json.dumps(outcome), flush=True)


def threshold_for(exercise, dataset):
    """``{threshold, chance, rule, provenance}`` of an exercise on a data set, from
    ``autograder/thresholds.json`` (or ``$GENRELAB_THRESHOLDS``: tests use provisional ones)."""
    path = Path(os.environ.get("GENRELAB_THRESHOLDS") or THRESHOLDS)
    table = json.loads(path.read_text()) if path.is_file() else {}
    try:
        return table[exercise][dataset]
    except KeyError:
        raise exercises.GradingSetupError(
            f"no threshold for {exercise} on the '{dataset}' data set in {path}: measure it "
            f"with `python -m autograder reference {exercise} --protocol {dataset}:default`, "
            "then `python -m autograder thresholds`")


def score(accuracy, threshold, chance, points, lower_is_better=False):
    """Full points at or above the threshold, 0 at or below chance, linear in between; for an
    error (``lower_is_better``): full points at or below the threshold, 0 at or above chance."""
    if lower_is_better:
        if not threshold < chance:
            raise exercises.GradingSetupError(f"the threshold {threshold} must be below chance "
                                              f"{chance} for an error (lower is better)")
        return points * min(1.0, max(0.0, (chance - accuracy) / (chance - threshold)))
    return points * min(1.0, max(0.0, (accuracy - chance) / (threshold - chance)))


@dataclass
class Result:
    """The outcome of grading one model. ``status`` is ``ok`` or ``error``; on error,
    ``problem`` is one of missing, unreadable, unsafe, shape, structure, nan, timeout,
    memory, crash."""
    exercise: str
    dataset: str
    status: str
    threshold: float
    chance: float
    rule: str
    provenance: str
    points: float
    score: float = 0.0
    message: str = None
    problem: str = None
    accuracy: float = None
    low: float = None
    high: float = None
    n: int = None
    seconds: float = None
    confusion: list = None  # per track: rows the true genre, columns the predicted one
    lsd: float = None       # an autoencoder's log-spectral distance (dB) instead of accuracy
    metric: str = "accuracy"

    @property
    def value(self):
        """The measure the score comes from: the accuracy, or an autoencoder's LSD."""
        return self.lsd if self.metric == "lsd" else self.accuracy

    def measured(self, split="test"):
        """One sentence: the measure on a split, with its interval and the threshold."""
        where = split.replace("valid", "validation")
        if self.metric == "lsd":
            return (f"{where.capitalize()} log-spectral distance {self.lsd:.2f} dB (95% "
                    f"interval {self.low:.2f}-{self.high:.2f}, {self.n} {where} tracks; lower is "
                    f"better): {'at or below' if self.lsd <= self.threshold else 'above'} the "
                    f"threshold {self.threshold:.2f} dB.")
        return (f"{where.capitalize()} accuracy {self.accuracy:.3f} (95% interval "
                f"{self.low:.3f}-{self.high:.3f}, {self.n} {where} tracks): "
                f"{'at or above' if self.accuracy >= self.threshold else 'below'} the threshold "
                f"{self.threshold:.2f}.")

    def report(self):
        """Markdown for the student: accuracy, interval, threshold, score and why."""
        rule = ("Full points at or above the threshold, none at or below chance, linear in "
                "between." if self.metric != "lsd" else
                "Full points at or below the threshold, none at or above chance (the error of "
                "the training split's mean spectrum, whatever the input), linear in between.")
        unit = " dB" if self.metric == "lsd" else ""
        lines = [f"**Model score: {self.score:.2f} of {self.points:g} points.** {self.message}", "",
                 f"- Threshold for full points on the '{self.dataset}' data set: "
                 f"{self.threshold:.2f}{unit}; chance: {self.chance:.2f}{unit}. {rule}",
                 f"- How the threshold was set: {self.rule}.",
                 f"- Measured by: {self.provenance}."]
        return "\n".join(lines) + "\n"


def evaluate_submission(exercise, submission_dir, dataset=None, timeout=TIMEOUT_S,
                        memory_mb=MEMORY_MB, split="test", model_file=None, inputs=None):
    """Grade the model in ``submission_dir`` in a separate process limited to ``timeout`` seconds
    of wall-clock time and ``memory_mb`` MiB of data memory; returns a :class:`Result`.
    ``dataset`` defaults to the prepared data set the course uses (``GENRELAB_DATASET`` or the
    audio found). Raises :class:`exercises.GradingSetupError` or
    :class:`genrelab.dataset.DataNotFound` for instructor-side problems only."""
    if isinstance(exercise, str):
        exercise = exercises.get(exercise)
    path = Path(submission_dir).resolve() / (model_file or exercise.model_file or "")
    return evaluate_models(exercise, [path], dataset, timeout, memory_mb, split, inputs)[0]


def evaluate_models(exercise, paths, dataset=None, timeout=TIMEOUT_S, memory_mb=MEMORY_MB,
                    split="test", inputs=None):
    """:func:`evaluate_submission` for several model files at once, in one child process (one
    start-up of the backend): a :class:`Result` per path, in order."""
    from genrelab.dataset import dataset_info

    if isinstance(exercise, str):
        exercise = exercises.get(exercise)
    if not exercise.has_model:
        raise exercises.GradingSetupError(f"{exercise.name} has no model to evaluate: its grade "
                                          "is its notebook's test score (nbgrader autograde)")
    dataset = dataset_info(dataset)["name"]
    limits = threshold_for(exercise.name, dataset)
    start = time.perf_counter()
    outcomes, present = {}, []
    for path in map(Path, paths):
        try:
            check_file(path)
            present.append(path)
        except ModelProblem as problem:
            outcomes[path] = {"problem": problem.problem, "message": problem.message}
    if present:
        try:
            outcomes.update(zip(present, _run_child(exercise, present, dataset, timeout,
                                                    memory_mb, split, inputs)))
        except ModelProblem as problem:
            outcomes.update({p: {"problem": problem.problem, "message": problem.message}
                             for p in present})
    seconds = round(time.perf_counter() - start, 1)
    return [_result(exercise, dataset, limits, outcomes[Path(p)], seconds, split) for p in paths]


def _result(exercise, dataset, limits, outcome, seconds, split):
    result = Result(exercise.name, dataset, "error" if "problem" in outcome else "ok",
                    points=exercise.points, seconds=seconds, metric=exercise.metric,
                    **{k: limits[k] for k in ("threshold", "chance", "rule", "provenance")},
                    **outcome)
    if result.status == "ok":
        result.score = round(score(result.value, result.threshold, result.chance,
                                   result.points, exercise.lower_is_better), 2)
        result.message = result.measured(split)
    return result


def _run_child(exercise, paths, dataset, timeout, memory_mb, split="test", inputs=None):
    """Run :func:`main` in a fresh, isolated interpreter (``-I``: the submission folder is never
    on its import path); its JSON lines (one per model), or a :class:`ModelProblem`."""
    cmd = [sys.executable, "-I", "-m", "autograder.evaluate", "--exercise", exercise.name,
           *[arg for path in paths for arg in ("--model", str(path))], "--dataset", dataset,
           "--memory-mb", str(memory_mb), "--split", split,
           *(["--inputs", str(inputs)] if inputs else [])]
    # The grader's Keras backend (KERAS_BACKEND), on the CPU whatever the machine has.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "JAX_PLATFORMS": "cpu"}
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ModelProblem("timeout", f"evaluating the model took longer than {timeout:g} s "
                                      "(the limit) and was stopped")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and len(lines) >= len(paths):
        return [json.loads(line) for line in lines[-len(paths):]]
    raise diagnose(proc.returncode, proc.stderr, memory_mb)


def diagnose(returncode, stderr, memory_mb=MEMORY_MB):
    """The :class:`ModelProblem` of an evaluation that died: *memory* when any backend reports
    running out of it (or the kernel's OOM killer struck), else *crash* with the last line that
    is not a backend's log noise."""
    if _MEMORY_ERRORS.search(stderr) or returncode == -signal.SIGKILL:  # OOM killer
        return ModelProblem("memory", f"evaluating the model ran out of memory (limit "
                                      f"{memory_mb} MiB)")
    lines = [l for l in stderr.splitlines() if l.strip() and not _LOG_NOISE.match(l)]
    how = (f"killed by signal {signal.Signals(-returncode).name}" if returncode < 0
           else f"exit status {returncode}")
    return ModelProblem("crash", f"evaluating the model crashed ({how})"
                                 + (f": {lines[-1][:300]}" if lines else ""))


if __name__ == "__main__":
    main()
