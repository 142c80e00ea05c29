"""The chapter 7 models and measures, *Autoencoders* (``book/07_autoencoders.ipynb``).

An autoencoder squeezes its input through a narrow **code** (the bottleneck) and rebuilds it from
the code alone. Trained on log-mel segments (128 bands x 130 frames in dB, ``prepare``'s
``logmel_segments.npz``), what it rebuilds can be turned back into sound.

- Measures of a reconstruction: :func:`spectral_convergence` (on magnitudes) and
  :func:`log_spectral_distance` (on dB spectrograms; derived step by step in the chapter,
  ``tests/test_autoencoders.py`` ties the two versions together), per segment;
  :func:`track_lsd` averages a track's segments, as the grader does.
- Sound back: :func:`stft_to_audio`, :func:`mel_to_audio` and :func:`mfcc_to_audio`, each by
  Griffin-Lim (:func:`griffin_lim_ceiling`: what the inversion alone loses).
- :func:`mfcc_autoencoder` -- the seed's idea, a dense autoencoder on MFCC frames, with each
  coefficient standardized inside the model.
- :func:`conv_autoencoder` -- the course's convolutional autoencoder on log-mel segments: an
  ``encoder`` model (segment -> code) and a ``decoder`` model (code -> segment), composed; the
  input is standardized inside the model and the output brought back to dB, so a saved
  ``model.keras`` takes and gives raw dB segments.
- :func:`variational_autoencoder` -- the same networks with a :class:`Sampling` bottleneck (a
  registered layer: the KL term and the sampling), whose decoder turns random codes into new
  spectrograms.
- :func:`fit` -- training to rebuild the input, early stopping on the validation loss.
- :func:`mean_spectrum_lsd` -- the reconstruction of a model that ignores its input (the training
  split's mean spectrum): the grader's "chance".
- :func:`structure_problems` -- what exercise 7 requires of a saved autoencoder, checked by the
  grader in its own process and by the notebook's hidden tests.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no start-up notice on stderr

import keras  # noqa: E402
import numpy as np  # noqa: E402

from genrelab import SR  # noqa: E402
from genrelab.crnn import MEL_SHAPE, segments  # noqa: E402,F401  (the chapter's segments)
from genrelab.features import HOP, N_FFT  # noqa: E402

CODE_SIZES = (16, 64, 256)
"""Bottleneck widths the chapter compares."""
MAX_CODE = 64
"""The widest code exercise 7 allows."""


# --- measures --------------------------------------------------------------------------------
def spectral_convergence(S, S_hat):
    """``||S - S_hat||_F / ||S||_F`` over the last two axes (frequency x time) of magnitude
    spectrograms: 0 for a perfect reconstruction, 1 for silence in place of the signal."""
    S, S_hat = np.asarray(S, dtype=np.float64), np.asarray(S_hat, dtype=np.float64)
    return (np.linalg.norm(S - S_hat, axis=(-2, -1)) / np.linalg.norm(S, axis=(-2, -1)))


def log_spectral_distance(db, db_hat):
    """Log-spectral distance in dB between dB spectrograms (... x bands x frames): per frame, the
    root mean square over bands of the dB difference; then the mean over frames. One number per
    spectrogram (the last two axes)."""
    diff = np.asarray(db, dtype=np.float64) - np.asarray(db_hat, dtype=np.float64)
    return np.sqrt(np.mean(diff ** 2, axis=-2)).mean(axis=-1)


def track_lsd(db, db_hat, track_ids):
    """``(track ids, their mean log-spectral distance)``: a track's segments averaged."""
    per_segment = log_spectral_distance(db, db_hat)
    ids, inverse = np.unique(np.asarray(track_ids), return_inverse=True)
    totals = np.bincount(inverse, weights=per_segment)
    return ids, totals / np.bincount(inverse)


def mean_interval(values, confidence=0.95):
    """``(mean, low, high)``: the mean of per-track values with the Student-t interval of the
    mean (how well these tracks pin it)."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)
                 * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def mean_spectrum_lsd(train_X, X, track_ids):
    """Per-track log-spectral distance of the training split's mean spectrum (each band's mean
    dB over every training frame) taken as the reconstruction of every segment: a model that
    ignores its input does this well."""
    mean = np.asarray(train_X, dtype=np.float64).mean(axis=(0, 2))[:, None]
    return track_lsd(X, np.broadcast_to(mean, np.shape(X)), track_ids)


# --- sound back -------------------------------------------------------------------------------
def stft_to_audio(magnitude, n_iter=32, length=None):
    """Audio from an STFT magnitude by Griffin-Lim (the phase is estimated, not known)."""
    import librosa

    return librosa.griffinlim(magnitude, n_iter=n_iter, hop_length=HOP, n_fft=N_FFT,
                              length=length)


def mel_to_audio(db, n_iter=32, length=None):
    """Audio from a dB mel spectrogram (the course's 128 bands): power, then an approximate
    STFT magnitude (non-negative least squares through the mel filters), then Griffin-Lim."""
    import librosa

    return _mel_power_to_audio(librosa.db_to_power(np.asarray(db, dtype=np.float32)), n_iter,
                               length)


def _mel_power_to_audio(power, n_iter, length):
    import librosa

    return librosa.feature.inverse.mel_to_audio(power, sr=SR, n_fft=N_FFT, hop_length=HOP,
                                                n_iter=n_iter, length=length)


def mfcc_to_audio(coefficients, n_iter=32, length=None):
    """Audio from MFCCs (coefficients x frames): the inverse DCT gives a smooth mel power
    spectrogram (128 bands), then as :func:`mel_to_audio`."""
    import librosa

    power = librosa.feature.inverse.mfcc_to_mel(np.asarray(coefficients, dtype=np.float32),
                                                n_mels=MEL_SHAPE[0])
    return _mel_power_to_audio(power, n_iter, length)


def griffin_lim_ceiling(db, n_iter=32):
    """``(audio, its dB mel)``: a dB mel spectrogram inverted to audio, and the mel of that
    audio -- the best any mel model's sound can be, since the inversion alone loses this much."""
    import librosa

    from genrelab.features import log_mel

    audio = mel_to_audio(db, n_iter=n_iter)
    power = np.abs(librosa.stft(audio, n_fft=N_FFT, hop_length=HOP)) ** 2
    again = log_mel(power)[..., : np.shape(db)[-1]]
    return audio, again


# --- models -----------------------------------------------------------------------------------
def _standardizers(train_X, name):
    """A ``Normalization`` adapted on the training values (one mean and variance for every
    bin), and its inverse with the same statistics, to bring outputs back to dB."""
    L = keras.layers
    forward = L.Normalization(axis=None, name=f"{name}_standardize")
    forward.adapt(np.asarray(train_X, dtype=np.float32)[::7].reshape(-1, 1))
    mean, var = (np.asarray(keras.ops.convert_to_numpy(v)).reshape(())
                 for v in (forward.mean, forward.variance))
    back = L.Normalization(axis=None, mean=float(mean), variance=float(var), invert=True,
                           name=f"{name}_to_db")
    return forward, back


def mfcc_autoencoder(train_frames, code=8, hidden=64, learning_rate=1e-3):
    """A dense autoencoder on single MFCC frames (13 coefficients): standardize each
    coefficient, 13 -> hidden -> code -> hidden -> 13, and back to raw coefficients."""
    L = keras.layers
    train_frames = np.asarray(train_frames, dtype=np.float32).reshape(-1, np.shape(train_frames)[-1])
    n = train_frames.shape[-1]
    forward = L.Normalization(axis=-1, name="standardize")
    forward.adapt(train_frames)
    back = L.Normalization(axis=-1, mean=np.ravel(keras.ops.convert_to_numpy(forward.mean)),
                           variance=np.ravel(keras.ops.convert_to_numpy(forward.variance)),
                           invert=True, name="to_coefficients")
    x = keras.Input((n,), name="mfcc_frame")
    h = L.Dense(hidden, activation="relu")(forward(x))
    z = L.Dense(code, name="code")(h)
    h = L.Dense(hidden, activation="relu")(z)
    model = keras.Model(x, back(L.Dense(n)(h)), name="mfcc_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def encoder(train_X, code=MAX_CODE, filters=(96, 64, 64), name="encoder", outputs=None):
    """Segment (128 bands x 130 frames, dB) -> code. Standardize, then read the segment as a
    sequence of 130 frames whose 128 mel bands are the channels, and convolve over time: three
    convolutions of 5 frames with stride 2 (130 -> 65 -> 33 -> 17 steps), each with batch
    normalization and ReLU, then a Dense layer to ``code`` numbers. (Over time only, with the
    bands as channels: a fraction of the work of 2-D convolutions on the 128 x 130 image, so it
    trains in minutes on a CPU.) ``outputs``: the number of Dense heads of width ``code`` (the
    VAE's mean and log-variance: 2)."""
    L = keras.layers
    forward, _ = _standardizers(train_X, name)
    x = keras.Input(MEL_SHAPE, name="logmel")
    h = L.Permute((2, 1), name="frames_first")(forward(x))  # (130 frames, 128 bands)
    for f in filters:
        h = L.Conv1D(f, 5, strides=2, padding="same", use_bias=False)(h)
        h = L.Activation("relu")(L.BatchNormalization()(h))
    h = L.Flatten()(h)
    if outputs is None:
        return keras.Model(x, L.Dense(code, name="code")(h), name=name)
    return keras.Model(x, [L.Dense(code, name=f"code_{i}")(h) for i in range(outputs)],
                       name=name)


def decoder(train_X, code=MAX_CODE, filters=(64, 64, 96), name="decoder"):
    """Code -> segment (128 x 130 dB), the encoder mirrored: a Dense layer to 17 steps x 64
    channels, three transposed convolutions of stride 2 (17 -> 34 -> 68 -> 136 steps), the 6
    extra steps cropped, a linear convolution to the 128 bands, frames back to second place, and
    back from standardized units to dB (the training split's statistics)."""
    L = keras.layers
    _, back = _standardizers(train_X, name)
    steps = _steps_after(MEL_SHAPE[1], len(filters))
    z = keras.Input((code,), name="code")
    h = L.Dense(steps * filters[0], activation="relu")(z)
    h = L.Reshape((steps, filters[0]))(h)
    for f in filters:
        h = L.Conv1DTranspose(f, 5, strides=2, padding="same", use_bias=False)(h)
        h = L.Activation("relu")(L.BatchNormalization()(h))
    h = L.Cropping1D((0, steps * 2 ** len(filters) - MEL_SHAPE[1]))(h)
    h = L.Conv1D(MEL_SHAPE[0], 3, padding="same", name="bands")(h)
    return keras.Model(z, back(L.Permute((2, 1), name="bands_first")(h)), name=name)


def _steps_after(frames, layers):
    """Time steps left after ``layers`` stride-2 convolutions with ``same`` padding."""
    for _ in range(layers):
        frames = -(-frames // 2)
    return frames


def conv_autoencoder(train_X, code=MAX_CODE, learning_rate=1e-3):
    """The course's convolutional autoencoder: ``decoder(encoder(segment))``, trained to rebuild
    the dB segment (mean squared error in dB^2). Its layers are the two models, so
    ``model.get_layer("encoder")`` gives the codes."""
    enc, dec = encoder(train_X, code), decoder(train_X, code)
    x = keras.Input(MEL_SHAPE, name="logmel")
    model = keras.Model(x, dec(enc(x)), name="conv_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


@keras.saving.register_keras_serializable(package="genrelab")
class Sampling(keras.layers.Layer):
    """The variational bottleneck: from ``[mean, log_variance]``, a code drawn from
    ``N(mean, exp(log_variance))`` while training (the mean otherwise), and the KL divergence
    from ``N(0, 1)`` (summed over the code, averaged over the batch, times ``beta``) added to the
    model's loss."""

    def __init__(self, beta=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.beta, self.seed = beta, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        ops = keras.ops
        mean, log_var = inputs
        kl = -0.5 * ops.mean(ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1))
        self.add_loss(self.beta * kl)
        if not training:
            return mean
        noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * noise

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}


def variational_autoencoder(train_X, code=16, beta=0.01, learning_rate=1e-3, seed=0):
    """The convolutional autoencoder with a variational bottleneck (:class:`Sampling`): the
    encoder gives a mean and a log-variance per code number. ``beta`` weighs the KL term against
    the reconstruction's mean squared error in dB^2 per bin: a Gaussian decoder with a 7 dB
    spread on each of the 16,640 bins gives the evidence lower bound at ``beta`` = 2 * 7^2 /
    16,640, about 0.006. Returns ``(model, decoder)``: feed
    the decoder codes drawn from ``N(0, 1)`` for new spectrograms."""
    enc = encoder(train_X, code, outputs=2)
    dec = decoder(train_X, code)
    x = keras.Input(MEL_SHAPE, name="logmel")
    z = Sampling(beta=beta, seed=seed, name="sampling")(enc(x))
    model = keras.Model(x, dec(z), name="variational_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model, dec


def fit(model, train, valid, epochs=30, patience=5, batch_size=32, seed=0):
    """Train ``model`` to rebuild its input, with early stopping on the validation loss (best
    weights kept). ``train`` and ``valid`` are arrays of segments, or ``(X, ...)`` tuples whose
    first item is used. Returns the Keras ``History``."""
    X = train[0] if isinstance(train, tuple) else train
    V = valid[0] if isinstance(valid, tuple) else valid
    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                         restore_best_weights=True)
    return model.fit(X, X, validation_data=(V, V), epochs=epochs, batch_size=batch_size,
                     callbacks=[stop], verbose=0)


def reconstruct(model, X, batch_size=64):
    """The model's reconstruction of each segment, as a NumPy array."""
    return np.asarray(model.predict(np.asarray(X, dtype=np.float32), batch_size=batch_size,
                                    verbose=0))


def codes(model, X, batch_size=256):
    """Each segment's code from an autoencoder's ``encoder`` (for a VAE: the mean)."""
    enc = model.get_layer("encoder")
    out = enc.predict(np.asarray(X, dtype=np.float32), batch_size=batch_size, verbose=0)
    return np.asarray(out[0] if isinstance(out, (list, tuple)) else out)


def reconstruction_quality(model, X, track_ids):
    """Log-spectral distance (dB) of a model's reconstructions, per track: ``{"lsd": (mean,
    low, high), "tracks": n, "segments": m}``, the interval the Student-t 95% interval over
    tracks."""
    _, per_track = track_lsd(X, reconstruct(model, X), track_ids)
    return {"lsd": mean_interval(per_track), "tracks": len(per_track), "segments": len(X)}


def structure_problems(model, max_code=MAX_CODE, shape_in=(None, *MEL_SHAPE),
                       shape_out=(None, *MEL_SHAPE), name="the exercise"):
    """What keeps a model from being an honest autoencoder: a list of sentences, empty when it
    is one. It must be ``decoder(encoder(x))`` and nothing else (no path around the code: the
    model's steps are exactly two models named ``encoder`` and ``decoder``), the encoder must take
    ``shape_in`` and give one flat float32 code of at most ``max_code`` numbers, the decoder must
    take that code and give ``shape_out``, and the two must share no weights and hold no state
    between calls (``stateful`` layers)."""
    steps = [op for op in getattr(model, "operations", model.layers)
             if type(op).__name__ != "InputLayer"]
    names = [getattr(op, "name", type(op).__name__) for op in steps]
    if names != ["encoder", "decoder"]:
        return [f"{name} requires the model to be decoder(encoder(x)): two models named "
                f"'encoder' and 'decoder' and nothing else (this one is made of "
                f"{', '.join(names) or 'nothing'})"]
    enc, dec = steps
    problems = []
    try:
        shapes = (tuple(enc.input_shape), tuple(enc.output_shape), tuple(dec.input_shape),
                  tuple(dec.output_shape))
    except (AttributeError, ValueError, TypeError) as err:
        return [f"the encoder and decoder have no fixed input/output shapes ({err})"]
    if shapes[0] != tuple(shape_in) or shapes[3] != tuple(shape_out):
        problems.append(f"the encoder must take {tuple(shape_in)} and the decoder give "
                        f"{tuple(shape_out)}; these take {shapes[0]} and give {shapes[3]}")
    code = shapes[1]
    if len(code) != 2 or not isinstance(code[1], int) or shapes[2] != code:
        problems.append(f"the encoder must give one flat code (None, n) that the decoder takes; "
                        f"the encoder gives {code} and the decoder takes {shapes[2]}")
    elif code[1] > max_code:
        problems.append(f"the code has {code[1]} numbers; {name} allows at most {max_code}")
    out = enc.outputs[0] if getattr(enc, "outputs", None) else None
    if out is not None and str(getattr(out, "dtype", "float32")) not in ("float32", "float16",
                                                                          "bfloat16"):
        problems.append(f"the code must be float32 (or narrower), not {out.dtype}")
    shared = {id(w) for w in enc.weights} & {id(w) for w in dec.weights}
    if shared:
        problems.append(f"the encoder and decoder share {len(shared)} weights: the code must be "
                        "the only thing they have in common")
    stateful = [layer.name for m in (enc, dec) for layer in _layers_of(m)
                if getattr(layer, "stateful", False)]
    if stateful:
        problems.append(f"stateful layers keep state between calls ({', '.join(stateful)}): "
                        "not allowed in an autoencoder")
    return problems


def _layers_of(model):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _layers_of(layer)
