"""The chapter 5 models, *Recurrent networks* (``book/05_rnn.ipynb``).

A 30 s clip is cut into ten 3 s segments; each segment is a **sequence** of 130 MFCC frames of 13
coefficients (:data:`SEQUENCE_SHAPE`, made by ``prepare``: ``mfcc_segments.npz``). A recurrent
layer reads the frames in order and keeps a state, its memory of what it has heard so far.

- :func:`simple_rnn` -- the recurrence of ``keras.layers.SimpleRNN``, written out in NumPy (the
  chapter derives it step by step; ``tests/test_rnn.py`` ties it to Keras' layer).
- :func:`seed_lstm` -- the seed project's network, 2 x LSTM(64) -> Dense(64) -> Dropout ->
  Dense(10): 57,802 weights, on raw MFCCs.
- :func:`honest_lstm` -- the course's version: the same recurrent core, with the MFCCs
  standardized inside the model (a ``Normalization`` layer adapted on the training frames), the
  LSTM's states averaged over time, and dropout; a saved ``model.keras`` is self-contained and
  the grader feeds it raw sequences.
- :func:`sequences` -- a split's ``(X, y, track_ids)``; :func:`accuracies` -- segment- and
  track-level accuracy (a track's segment probabilities averaged,
  :func:`genrelab.evaluation.song_level`), each with its Wilson interval.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no start-up notice on stderr

import keras  # noqa: E402
import numpy as np  # noqa: E402

from genrelab import GENRES, evaluation  # noqa: E402
from genrelab.dataset import segments_xy  # noqa: E402
from genrelab.evaluation import track_level  # noqa: E402,F401  (the chapter's name for it)
from genrelab.features import N_MFCC_SEQUENCE  # noqa: E402
from genrelab.mlp import _compiled  # noqa: E402

SEQUENCE_SHAPE = (130, N_MFCC_SEQUENCE)
"""One example: 130 MFCC frames (3 s at a hop of 512 samples) of 13 coefficients."""


def sequences(split, name=None):
    """``(X, y, track_ids)`` of one split of a prepared data set's MFCC sequences: ``X``
    (segments x 130 x 13, float32), integer genres, and each segment's track."""
    return segments_xy("mfcc", split, name)


def simple_rnn(x, kernel, recurrent_kernel, bias, h0=None):
    """The states of a simple recurrent layer over a sequence ``x`` (steps x features):
    ``h_t = tanh(x_t W + h_{t-1} U + b)`` with ``W = kernel``, ``U = recurrent_kernel``, ``b =
    bias``, from ``h_0 = 0``. Returns every ``h_t`` (steps x units); the last row is what
    ``keras.layers.SimpleRNN`` outputs."""
    x = np.asarray(x, dtype=np.float64)
    h = np.zeros(recurrent_kernel.shape[0]) if h0 is None else np.asarray(h0, dtype=np.float64)
    states = []
    for x_t in x:
        h = np.tanh(x_t @ kernel + h @ recurrent_kernel + bias)
        states.append(h)
    return np.array(states)


def seed_lstm(dropout=0.3, learning_rate=1e-3):
    """The seed project's LSTM: 2 x LSTM(64) -> Dense(64, relu) -> Dropout -> Dense(10,
    softmax) on raw 130 x 13 MFCC sequences; 57,802 weights. Its dropout rate is not in the
    slides; 0.3 is an assumption."""
    L = keras.layers
    model = keras.Sequential([
        keras.Input(SEQUENCE_SHAPE), L.LSTM(64, return_sequences=True), L.LSTM(64),
        L.Dense(64, activation="relu"), L.Dropout(dropout),
        L.Dense(len(GENRES), activation="softmax"),
    ], name="seed_lstm")
    return _compiled(model, learning_rate)


def honest_lstm(train_X, units=64, dropout=0.3, head_dropout=0.5, l2=1e-3, learning_rate=1e-3):
    """Standardize each MFCC coefficient (statistics of the training frames ``train_X``), two
    LSTM layers with dropout on their inputs, the second one's outputs **averaged over the 130
    steps** (``GlobalAveragePooling1D``: every step's state votes, not only the last one's), a
    small ReLU layer with L2 weight decay between dropouts, and a softmax over the 10 genres.
    The seed's recurrent core and size (57,802 weights, plus the 27 statistics of the
    standardization)."""
    L = keras.layers
    standardize = L.Normalization(axis=-1, name="standardize")
    standardize.adapt(np.asarray(train_X).reshape(-1, SEQUENCE_SHAPE[1]))
    model = keras.Sequential([
        keras.Input(SEQUENCE_SHAPE, name="mfcc_frames"), standardize,
        L.LSTM(units, return_sequences=True, dropout=dropout),
        L.LSTM(units, return_sequences=True, dropout=dropout),
        L.GlobalAveragePooling1D(name="mean_over_time"),
        L.Dropout(head_dropout),
        L.Dense(64, activation="relu", kernel_regularizer=keras.regularizers.l2(l2)),
        L.Dropout(head_dropout),
        L.Dense(len(GENRES), activation="softmax", name="genre"),
    ], name="honest_lstm")
    return _compiled(model, learning_rate)


def fit(model, train, valid, epochs=40, patience=10, batch_size=64, seed=0,
        monitor="val_accuracy"):
    """Train with early stopping on the validation split (``monitor``), keeping the best
    weights. ``train`` and ``valid`` are ``(X, y)`` pairs (extra items, such as track ids, are
    ignored). Returns the Keras ``History``."""
    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=patience,
                                         restore_best_weights=True)
    return model.fit(*train[:2], validation_data=tuple(valid[:2]), epochs=epochs,
                     batch_size=batch_size, callbacks=[stop], verbose=0)


def accuracies(model, X, y, track_ids):
    """Segment- and track-level accuracy of ``model`` on ``(X, y, track_ids)``: ``{"segment":
    (acc, low, high), "track": (acc, low, high), "segments": n, "tracks": m}``, each interval
    the Wilson 95% interval on its own count (segments of one track are not independent: the
    track-level interval is the honest one)."""
    probs = np.asarray(model.predict(X, batch_size=256, verbose=0))
    ids, y_track, pred_track = track_level(probs, y, track_ids)
    return {"segment": evaluation.accuracy_interval(y, probs.argmax(axis=1)),
            "track": evaluation.accuracy_interval(y_track, pred_track),
            "segments": len(y), "tracks": len(ids)}
