"""The gradable exercises: what a submission holds and how the grader reads its held-out data.

An exercise without a model (``model_file=None``, e.g. chapter 1's ``sound``) is graded on its
notebook's tests alone. A later chapter adds one :class:`Exercise` to :data:`EXERCISES` (and, for
a new kind of input,
one loader to :data:`INPUTS`): e.g. chapter 5's LSTM on ``mfcc`` segments, chapter 6's CRNN on
``logmel`` segments. Every loader returns one row per example with the example's track, and the grader
averages a track's probabilities (:func:`genrelab.evaluation.song_level`), so segment models are
scored per song like the 30 s feature models. Chapter 7's autoencoder (``metric="lsd"``) is
scored by how well it rebuilds the test segments: the log-spectral distance in dB, a track's
segments averaged, lower is better.
"""
from dataclasses import dataclass
from pathlib import Path

from genrelab import GENRES
from genrelab.dataset import load_table, segments_xy, xy
from genrelab.features import FEATURE_COLUMNS

RECURRENT_LAYERS = ("SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional")  # by class name (no
# Keras imported here): the three recurrent layers, a generic RNN of a cell, and a bidirectional
# wrapper of either
CONV_LAYERS = ("Conv1D", "Conv2D")


class GradingSetupError(Exception):
    """An instructor-side problem (unknown exercise, no submissions, no threshold): the message
    says what to run. Never raised for a student's broken submission."""


def features_30s(dataset, split="test"):
    """A split of the 30 s feature table: raw features (float32, FEATURE_COLUMNS order)."""
    table = load_table("30s", dataset)
    X, y = xy(table, split)
    return X, y, table.track_id[table.split == split].to_numpy()


def mfcc_segments(dataset, split="test"):
    """A split's MFCC sequences (segments x 130 x 13, float32), one row per 3 s segment, with
    each segment's track: the grader averages a track's segments."""
    return segments_xy("mfcc", split, dataset)


def logmel_segments(dataset, split="test"):
    """A split's log-mel segments (segments x 128 mel bands x 130 frames, float32 dB), one row
    per 3 s segment, with each segment's track."""
    return segments_xy("logmel", split, dataset)


INPUTS = {"features_30s": features_30s, "mfcc_segments": mfcc_segments,
          "logmel_segments": logmel_segments}
"""Input kind -> ``loader(dataset, split) -> (X, y, track_ids)`` of a split (``test``: the
held-out one the grader scores; ``valid``: the one a student's own check reports)."""


@dataclass(frozen=True)
class Exercise:
    name: str                  # nbgrader assignment id, and the folder name of a submission
    notebook: str              # the notebook a submission holds
    model_file: str = None     # the model the notebook saves next to itself; None: no model
    inputs: str = None         # a key of INPUTS
    input_shape: tuple = ()    # one example, without the batch dimension
    custom_modules: tuple = ()  # modules registering the custom layers a model may use
    task_id: str = "model_accuracy"  # the nbgrader task cell that receives the model score
    points: float = 10.0
    output_shape: tuple = None    # one output without the batch dimension (None: one
    # probability per genre)
    metric: str = "accuracy"      # what the grader measures on test: "accuracy" (per track,
    # higher is better) or "lsd" (log-spectral distance of the reconstruction in dB, per track,
    # lower is better)
    # Structural limits, checked by the grader on the saved model in its own process (as well
    # as by the notebook's tests, which the student's kernel runs):
    max_params: int = None        # weights of every kind (model.count_params()), at most
    required_layers: tuple = ()   # Keras layer classes the model must contain
    dense_layers: int = None      # exactly this many Dense layers
    recurrent: bool = False       # at least one recurrent layer (SimpleRNN, LSTM or GRU)
    conv_before_recurrent: bool = False  # a convolution (Conv1D/2D) before the first recurrent
    max_code: int = None          # an autoencoder: exactly decoder(encoder(x)), the models named
    # "encoder" and "decoder", whose code (the encoder's output) has at most this many numbers
    # Time limits of a graded run of the notebook, in seconds (None: nbgrader_config.py's limit
    # per cell, sandbox.Limits' per notebook). Segment models train for minutes on the full
    # GTZAN, longer with several students graded at once on the same cores; the command line's
    # --cell-timeout and --notebook-timeout override them.
    cell_timeout: int = None
    notebook_timeout: int = None

    @property
    def has_model(self):
        """Whether a submission holds a model that the grader evaluates (and scores)."""
        return self.model_file is not None

    def time_limits(self, cell_default, notebook_default=None):
        """``(cell, notebook)`` limits in seconds for a graded run of the notebook: the
        exercise's own, else the defaults given (the course's cell limit, the sandbox's notebook
        limit)."""
        return (self.cell_timeout or cell_default, self.notebook_timeout or notebook_default)

    @property
    def lower_is_better(self):
        """Whether the measure is an error (``lsd``) rather than an accuracy."""
        return self.metric == "lsd"

    @property
    def notebook_id(self):
        return Path(self.notebook).stem

    @property
    def expected_shapes(self):
        """``(input, output)`` shapes a model must have, batch dimension ``None``."""
        return (None, *self.input_shape), (None, *(self.output_shape or (len(GENRES),)))

    def split_data(self, dataset, split="test"):
        """``(X, y, track_ids)`` of a split of a prepared data set (default: the held-out
        test split)."""
        return INPUTS[self.inputs](dataset, split)

    def structure_problems(self, model):
        """What breaks the exercise's structural limits in a loaded model: a list of sentences
        (empty when it complies). Counts come from the model's own weights, so nothing the
        student's kernel did (a patched ``count_params``) changes them."""
        import numpy as np

        problems = []
        layers = list(_all_layers(model))
        if self.max_params is not None:
            n = int(sum(np.prod(w.shape) for w in model.weights))
            if n > self.max_params:
                problems.append(f"the model has {n:,} weights; {self.name} allows at most "
                                f"{self.max_params:,}")
        names = {type(layer).__name__ for layer in layers}
        for required in self.required_layers:
            if required not in names:
                problems.append(f"the model has no {required} layer, which {self.name} "
                                "requires")
        if self.dense_layers is not None:
            n = sum(type(layer).__name__ == "Dense" for layer in layers)
            if n != self.dense_layers:
                problems.append(f"the model has {n} Dense layers; {self.name} requires exactly "
                                f"{self.dense_layers}")
        if self.recurrent and not names & set(RECURRENT_LAYERS):
            problems.append(f"the model has no recurrent layer ({', '.join(RECURRENT_LAYERS)}), "
                            f"which {self.name} requires")
        if self.conv_before_recurrent:
            kinds = [type(layer).__name__ for layer in layers]
            conv = [i for i, n in enumerate(kinds) if n in CONV_LAYERS]
            rec = [i for i, n in enumerate(kinds) if n in RECURRENT_LAYERS]
            if not conv:
                problems.append(f"the model has no convolution ({', '.join(CONV_LAYERS)}), "
                                f"which {self.name} requires before its recurrent layer")
            elif rec and conv[0] > rec[0]:
                problems.append(f"the model's first recurrent layer comes before its first "
                                f"convolution; {self.name} requires convolutions first (a CRNN)")
        if self.max_code is not None:
            problems += self._autoencoder_problems(model)
        return problems

    def _autoencoder_problems(self, model):
        """:func:`genrelab.autoencoders.structure_problems` with this exercise's shapes and code
        width (the notebook's hidden tests call the same function)."""
        from genrelab.autoencoders import structure_problems

        shape_in, shape_out = self.expected_shapes
        return structure_problems(model, self.max_code, shape_in, shape_out, self.name)


def _all_layers(model):
    """Every layer of a model, nested models' layers included."""
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


EXERCISES = {e.name: e for e in [
    Exercise("sound", notebook="sound.ipynb"),  # chapter 1: notebook tests only, no model
    Exercise("features", notebook="features.ipynb", model_file="model.keras",
             inputs="features_30s", input_shape=(len(FEATURE_COLUMNS),),
             custom_modules=("genrelab.mlp",), required_layers=("Normalization",),
             dense_layers=1),  # a logistic regression
    Exercise("mlp", notebook="mlp.ipynb", model_file="model.keras", inputs="features_30s",
             input_shape=(len(FEATURE_COLUMNS),), custom_modules=("genrelab.mlp",),
             max_params=100_000, required_layers=("Normalization",)),
    # chapter 5: an LSTM (or GRU) on 3 s MFCC sequences, scored per track
    Exercise("rnn", notebook="rnn.ipynb", model_file="model.keras", inputs="mfcc_segments",
             input_shape=(130, 13), max_params=100_000, required_layers=("Normalization",),
             recurrent=True, cell_timeout=1200, notebook_timeout=2400),
    # chapter 6: convolutions, then a recurrent layer over time, on 3 s log-mel segments
    Exercise("crnn", notebook="crnn.ipynb", model_file="model.keras", inputs="logmel_segments",
             input_shape=(128, 130), max_params=150_000, required_layers=("Normalization",),
             recurrent=True, conv_before_recurrent=True, cell_timeout=2400,
             notebook_timeout=3600),
    # chapter 7: a convolutional autoencoder on 3 s log-mel segments, scored by its
    # reconstruction of the test segments (log-spectral distance, lower is better)
    Exercise("autoencoder", notebook="autoencoder.ipynb", model_file="model.keras",
             inputs="logmel_segments", input_shape=(128, 130), output_shape=(128, 130),
             metric="lsd", max_code=64, max_params=1_000_000,
             custom_modules=("genrelab.autoencoders",), cell_timeout=2400,
             notebook_timeout=3600),
]}


def get(name):
    """The exercise called ``name``."""
    try:
        return EXERCISES[name]
    except KeyError:
        raise GradingSetupError(f"unknown exercise '{name}' (known: {', '.join(EXERCISES)})")


def for_submission(folder, name=None):
    """The exercise ``name``, or else the one a submission folder is named after."""
    name = name or Path(folder).resolve().name
    if name not in EXERCISES:
        raise GradingSetupError(f"{folder}: name the exercise (--exercise, one of "
                                f"{', '.join(EXERCISES)})")
    return EXERCISES[name]
