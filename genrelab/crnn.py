"""The chapter 6 models, *Convolutional recurrent networks* (``book/06_crnn.ipynb``).

A 3 s segment is a log-mel spectrogram, 128 mel bands by 130 frames (:data:`MEL_SHAPE`, made by
``prepare``: ``logmel_segments.npz``, in dB). A CRNN reads it in two stages: small convolutions
learn local time-frequency patterns (an onset, a harmonic stack, a drum hit), and a recurrent
layer then runs over *time* on the convolutions' feature maps.

- :func:`feature_maps_to_sequence` -- the two built-in layers (``Permute``, ``Reshape``) that turn
  conv feature maps (frequency x time x channels) into a sequence (time x features), and
  :func:`as_sequence`, the same in NumPy (``tests/test_crnn.py`` ties the two together).
- :func:`plain_crnn` -- a small CRNN without any of the chapter's care: conv 16-32-64, GRU(64),
  softmax; the yardstick, the obvious model without the chapter's care.
- :func:`honest_crnn` -- the course's CRNN: the log-mel standardized inside the model, pooled to
  32 bands by 65 frames (:data:`FRONT_POOL`, CPU-sized), three conv blocks with batch normalization, a GRU whose
  states are averaged over time, dropout, L2 weight decay. A saved ``model.keras`` is
  self-contained: the grader feeds it raw log-mel segments.
- :func:`spec_augment` and :class:`AugmentedSegments` -- training-time augmentation in NumPy
  (so on every backend): a random circular shift in time (a random crop of the looped segment),
  and one time and one frequency mask (SpecAugment), new at every epoch.
- :func:`fit` -- early stopping on validation accuracy, with or without augmentation;
  :func:`accuracies` (segment and track level) is chapter 5's, :func:`genrelab.rnn.accuracies`.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no start-up notice on stderr

import keras  # noqa: E402
import numpy as np  # noqa: E402

from genrelab import GENRES  # noqa: E402
from genrelab.dataset import segments_xy  # noqa: E402
from genrelab.features import N_MELS  # noqa: E402
from genrelab.mlp import _compiled  # noqa: E402
from genrelab import rnn  # noqa: E402
from genrelab.rnn import accuracies, track_level  # noqa: E402,F401  (chapter 5's, reused)

MEL_SHAPE = (N_MELS, 130)
"""One example: 128 mel bands (rows) by 130 frames (3 s at a hop of 512 samples), in dB."""
FRONT_POOL = (4, 2)
"""The CRNNs' first layer averages the log-mel four bands by two frames: 32 bands by 65 frames of
46 ms, so that they train in minutes on 2 CPU cores (the resolution is what grows on a GPU)."""
N_BANDS = MEL_SHAPE[0] // FRONT_POOL[0]


def segments(split, name=None):
    """``(X, y, track_ids)`` of one split of a prepared data set's log-mel segments: ``X``
    (segments x 128 x 130, float32 dB), integer genres, and each segment's track."""
    return segments_xy("logmel", split, name)


def as_sequence(maps):
    """Conv feature maps ``(batch, freq, time, channels)`` as a sequence ``(batch, time, freq *
    channels)``: step ``t`` is every channel of every frequency row at time ``t``."""
    maps = np.asarray(maps)
    b, f, t, c = maps.shape
    return maps.transpose(0, 2, 1, 3).reshape(b, t, f * c)


def feature_maps_to_sequence(freq, channels, name="to_sequence"):
    """The Keras layers of :func:`as_sequence`, for maps of ``freq`` rows and ``channels``
    channels: ``Permute((2, 1, 3))`` puts time first, ``Reshape`` merges frequency and
    channels into one feature vector per step."""
    L = keras.layers
    return [L.Permute((2, 1, 3), name=f"{name}_time_first"),
            L.Reshape((-1, freq * channels), name=name)]


def _standardize(train_X):
    """``Normalization`` over the whole spectrogram (one mean and variance, of the training
    segments' dB values), adapted on ``train_X``."""
    layer = keras.layers.Normalization(axis=None, name="standardize")
    layer.adapt(np.asarray(train_X, dtype=np.float32).reshape(-1, 1)[::7])
    return layer


def plain_crnn(train_X, learning_rate=1e-3):
    """A small CRNN, untuned: the log-mel standardized and pooled (:data:`FRONT_POOL`), conv 16-32-64
    (3 x 3, ReLU, max-pooling), the maps as a sequence, GRU(64) keeping its last state, and a
    softmax. No batch normalization, no dropout, no augmentation."""
    L = keras.layers
    model = keras.Sequential([
        keras.Input(MEL_SHAPE, name="logmel"), L.Reshape((*MEL_SHAPE, 1)),
        _standardize(train_X), L.AveragePooling2D(FRONT_POOL, name="front_pool"),
        L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, padding="same", activation="relu"), L.MaxPooling2D((2, 1)),
        *feature_maps_to_sequence(N_BANDS // 8, 64),
        L.GRU(64),
        L.Dense(len(GENRES), activation="softmax", name="genre"),
    ], name="plain_crnn")
    return _compiled(model, learning_rate)


def honest_crnn(train_X, filters=(16, 32, 64), units=64, dropout=0.3, head_dropout=0.5,
                l2=1e-4, learning_rate=1e-3):
    """The course's CRNN. The same front as :func:`plain_crnn` (standardized log-mel pooled to
    :data:`FRONT_POOL`); three conv blocks, each 3 x 3 conv (L2 weight decay) -> batch
    normalization -> ReLU -> max-pooling (2 x 2, 2 x 2, 2 x 1); spatial dropout on the maps; the
    maps as a sequence of 16 steps; a GRU with input dropout whose states are **averaged over
    time**; dropout and a softmax."""
    L = keras.layers
    reg = keras.regularizers.l2(l2)
    blocks = []
    for i, (n, pool) in enumerate(zip(filters, ((2, 2), (2, 2), (2, 1)))):
        blocks += [L.Conv2D(n, 3, padding="same", use_bias=False, kernel_regularizer=reg,
                            name=f"conv{i + 1}"),
                   L.BatchNormalization(name=f"bn{i + 1}"), L.Activation("relu"),
                   L.MaxPooling2D(pool, name=f"pool{i + 1}")]
    model = keras.Sequential([
        keras.Input(MEL_SHAPE, name="logmel"), L.Reshape((*MEL_SHAPE, 1)),
        _standardize(train_X), L.AveragePooling2D(FRONT_POOL, name="front_pool"),
        *blocks, L.SpatialDropout2D(dropout / 3, name="map_dropout"),
        *feature_maps_to_sequence(N_BANDS // 8, filters[-1]),
        L.GRU(units, return_sequences=True, dropout=dropout),
        L.GlobalAveragePooling1D(name="mean_over_time"),
        L.Dropout(head_dropout),
        L.Dense(len(GENRES), activation="softmax", name="genre", kernel_regularizer=reg),
    ], name="honest_crnn")
    return _compiled(model, learning_rate)


def spec_augment(X, rng, max_shift=None, time_mask=20, freq_mask=16, fill=None):
    """An augmented copy of a batch of log-mel segments ``X`` (batch x bands x frames): each
    segment circularly shifted in time by a random number of frames (up to ``max_shift``; default
    the whole segment, a random crop of the segment looped), then one band of up to
    ``freq_mask`` mel bands and one stretch of up to ``time_mask`` frames set to ``fill``
    (default: the batch's mean, a silent-looking gap after standardization). ``rng`` is a NumPy
    ``Generator``; ``X`` is not changed."""
    X = np.array(X, dtype=np.float32, copy=True)
    if X.ndim != 3:
        raise ValueError(f"spec_augment takes a batch of segments (batch x bands x frames), not an "
                         f"array of shape {X.shape}")
    n, bands, frames = X.shape
    if not (0 <= freq_mask <= bands and 0 <= time_mask <= frames):
        raise ValueError(f"masks of up to {freq_mask} bands and {time_mask} frames do not fit "
                         f"segments of {bands} bands by {frames} frames")
    fill = float(X.mean()) if fill is None else fill
    shifts = rng.integers(0, (frames if max_shift is None else max_shift + 1), size=n)
    for i in range(n):
        X[i] = np.roll(X[i], shifts[i], axis=1)
        if freq_mask:
            width = rng.integers(0, freq_mask + 1)
            start = rng.integers(0, bands - width + 1)
            X[i, start:start + width, :] = fill
        if time_mask:
            width = rng.integers(0, time_mask + 1)
            start = rng.integers(0, frames - width + 1)
            X[i, :, start:start + width] = fill
    return X


class AugmentedSegments(keras.utils.PyDataset):
    """Batches of ``(X, y)`` with :func:`spec_augment` applied afresh at every epoch, in a
    shuffled order (seeded: the same seed gives the same epochs)."""

    def __init__(self, X, y, batch_size=32, seed=0, **augment):
        super().__init__()
        self.X, self.y = np.asarray(X, dtype=np.float32), np.asarray(y)
        if len(self.X) != len(self.y):
            raise ValueError(f"{len(self.X)} segments but {len(self.y)} labels")
        self.batch_size, self.augment = batch_size, augment
        self.rng = np.random.default_rng(seed)
        self.fill = float(self.X.mean())
        self.order = self.rng.permutation(len(self.y))

    def __len__(self):
        return -(-len(self.y) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        augment = {"fill": self.fill, **self.augment}
        return spec_augment(self.X[rows], self.rng, **augment), self.y[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.y))


def fit(model, train, valid, epochs=40, patience=10, batch_size=32, seed=0, augment=True,
        monitor="val_accuracy"):
    """Train with early stopping on the validation split (``monitor``), keeping the best
    weights; with ``augment`` (default), on :class:`AugmentedSegments` of the training split
    (``augment`` may be a dict of :func:`spec_augment`'s options). ``train`` and ``valid`` are
    ``(X, y)`` pairs (extra items, such as track ids, are ignored). Returns the Keras
    ``History``."""
    if not augment:  # chapter 5's training, on the segments as they are
        return rnn.fit(model, train, valid, epochs=epochs, patience=patience,
                       batch_size=batch_size, seed=seed, monitor=monitor)
    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=patience,
                                         restore_best_weights=True)
    options = augment if isinstance(augment, dict) else {}
    data = AugmentedSegments(*train[:2], batch_size=batch_size, seed=seed, **options)
    return model.fit(data, validation_data=tuple(valid[:2]), epochs=epochs, callbacks=[stop],
                     verbose=0)
