"""Chapter 4 -- Transfer learning: a music-pretrained CNN (musicnn) ported to Keras 3.

The PyPI package ``musicnn`` (Pons and Serra, 2019) ships convolutional networks trained to tag
music (MagnaTagATune, Million Song Dataset) as TensorFlow 1 checkpoints, which Keras 3 cannot
load. This module rebuilds the ``musicnn`` network with built-in Keras 3 layers only, so it runs
on every backend (tested on TensorFlow and JAX); ``python -m data_scripts port-musicnn`` reads the
checkpoint of the installed package into it and saves a ``.keras`` file (never committed), and
``data_scripts/port_musicnn.py`` proves the port against the original extractor.

The network, layer by layer (MTT_musicnn: 96 mel bands, 187 frames = 3 s at 16 kHz):

* front end: the log-mel patch, batch-normalized; *timbral* filters that span 7 frames and 38
  or 67 bands (40% and 70% of the 96), *temporal* filters that span 128, 64 or 32 frames and one
  band; each map max-pooled over frequency: 204 + 204 + 3 x 51 = 561 features per frame;
* mid end: three 1-D convolutions over time (64 filters, 7 frames), the second and third with
  residual connections; the front end's and the three layers' features side by side: 753 per
  frame;
* back end: max and mean over time, interleaved (1,506), batch norm, dropout, a dense layer of
  200 (ReLU, batch norm: the *penultimate* features), dropout, and 50 tag logits (sigmoid: the
  *taggram*).

Names follow the chapter: :func:`musicnn_input` is the network's input from audio,
:func:`musicnn` the network, :data:`CHECKPOINT_NAMES` how its layers are named in the TF1
checkpoint.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no start-up notice on stderr

import keras
import librosa
import numpy as np

SR, N_FFT, HOP, N_MELS = 16000, 512, 256, 96
"""musicnn's input: mel spectrograms of audio at 16 kHz, 512-sample frames, hop 256, 96 bands."""
FRAMES = 187
"""Frames in a 3 s patch (``librosa.time_to_frames(3, sr=16000, hop_length=256, n_fft=512) + 1``):
the length the networks were trained on."""

ARCHITECTURES = {"MTT_musicnn": {"midend": 64, "backend": 200, "tags": 50},
                 "MSD_musicnn": {"midend": 64, "backend": 200, "tags": 50}}
"""The checkpoints of the ``musicnn`` package that this port covers (its VGG models and the
big MSD model are not ported)."""

# The Keras layer -> the TF1 checkpoint's variable scope. TF1's layers API numbered its layers in
# the order the graph built them (musicnn/models.py): the input's batch norm, the two timbral
# and three temporal front-end blocks, the three mid-end convolutions, the back end.
CHECKPOINT_NAMES = {
    "input_norm": "batch_normalization",
    "timbral_38": "conv2d", "timbral_38_norm": "batch_normalization_1",
    "timbral_67": "conv2d_1", "timbral_67_norm": "batch_normalization_2",
    "temporal_128": "conv2d_2", "temporal_128_norm": "batch_normalization_3",
    "temporal_64": "conv2d_3", "temporal_64_norm": "batch_normalization_4",
    "temporal_32": "conv2d_4", "temporal_32_norm": "batch_normalization_5",
    "midend_1": "conv2d_5", "midend_1_norm": "batch_normalization_6",
    "midend_2": "conv2d_6", "midend_2_norm": "batch_normalization_7",
    "midend_3": "conv2d_7", "midend_3_norm": "batch_normalization_8",
    "pool_norm": "batch_normalization_9",
    "penultimate_dense": "dense", "penultimate": "batch_normalization_10",
    "tag_logits": "dense_1",
}

OPTIMIZER_STATE = {"beta1_power", "beta2_power", "global_step"}
"""Checkpoint variables that are the training's state, not the network's (with every
``<variable>/Adam`` and ``<variable>/Adam_1``)."""

OUTPUTS = ("taggram", "penultimate", "mean_pool", "max_pool")
"""What :func:`musicnn` returns, in this order: the tags' probabilities (50), the penultimate
features (200), and the mid end's features pooled over time by their mean and their maximum
(753 each): the embeddings a genre classifier can start from."""


def musicnn_input(y, sr, frames=FRAMES):
    """The network's input from a mono signal: musicnn's log-compressed mel spectrogram,
    ``log10(10000 * mel + 1)`` (16 kHz, 512-sample frames, hop 256, 96 bands; time first), cut
    into patches of ``frames`` frames without overlap. Returns ``(patches, frames, 96)``
    float32. Raises ``ValueError`` for audio shorter than one patch.

    The original extractor computes the same formula in float16, where ``10000 * mel``
    overflows to infinity for any band louder than 6.55 (float16 ends at 65,504): every patch
    with such a band comes out of its network as NaN. Here the mel is rounded to float16, as the
    original rounds it, and the rest is computed in float32; where the original does not
    overflow, the two differ by float16's rounding of the last three operations only."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"musicnn_input needs a mono signal (librosa.to_mono), got shape {y.shape}")
    if sr != SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=SR)
    mel = librosa.feature.melspectrogram(y=y, sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS).T
    rep = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    starts = range(0, rep.shape[0] - frames + 1, frames)
    if not len(starts):
        raise ValueError(f"the audio is {len(y) / SR:.2f} s long: musicnn needs at least one "
                         f"patch of {frames} frames ({(frames - 1) * HOP / SR:.3f} s)")
    return np.stack([rep[s:s + frames] for s in starts]).astype(np.float32)


def _frontend_block(x, filters, kernel, name, pad_time=0, padding="valid"):
    """Convolution (ReLU), batch norm, max over the frequency axis: ``(batch, time, filters)``."""
    if pad_time:
        x = keras.layers.ZeroPadding2D(((pad_time, pad_time), (0, 0)), name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=f"{name}_norm")(x)
    x = keras.layers.MaxPooling2D((1, x.shape[2]), name=f"{name}_pool")(x)
    return keras.layers.Reshape((-1, filters), name=f"{name}_frames")(x)


def musicnn(architecture="MTT_musicnn", frames=FRAMES):
    """The musicnn network in Keras 3 (random weights until :func:`load_checkpoint_weights` or
    ``keras.saving.load_model`` of a port): input ``(frames, 96)`` log-mel patches, outputs
    :data:`OUTPUTS`. Any ``frames`` works (the filters slide over time); 187 is what it was
    trained on."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown musicnn architecture {architecture!r}: one of {sorted(ARCHITECTURES)}")
    size = ARCHITECTURES[architecture]
    inputs = keras.Input((frames, N_MELS), name="logmel")
    x = keras.layers.Reshape((frames, N_MELS, 1), name="as_image")(inputs)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name="input_norm")(x)
    front = [_frontend_block(x, 204, (7, int(0.4 * N_MELS)), "timbral_38", pad_time=3),
             _frontend_block(x, 204, (7, int(0.7 * N_MELS)), "timbral_67", pad_time=3)]
    front += [_frontend_block(x, 51, (length, 1), f"temporal_{length}", padding="same")
              for length in (128, 64, 32)]
    front = keras.layers.Concatenate(name="frontend")(front)  # (batch, time, 561)

    layers, x = [front], front
    for i in (1, 2, 3):  # 1-D convolutions over time; the 2nd and 3rd residual
        y = keras.layers.Conv1D(size["midend"], 7, padding="same", activation="relu",
                                name=f"midend_{i}")(x)
        y = keras.layers.BatchNormalization(epsilon=1e-3, name=f"midend_{i}_norm")(y)
        x = y if i == 1 else keras.layers.Add(name=f"midend_{i}_residual")([y, x])
        layers.append(x)
    features = keras.layers.Concatenate(name="midend")(layers)  # (batch, time, 753)

    max_pool = keras.layers.GlobalMaxPooling1D(name="max_pool")(features)
    mean_pool = keras.layers.GlobalAveragePooling1D(name="mean_pool")(features)
    width = features.shape[-1]
    pair = [keras.layers.Reshape((width, 1), name=f"{n}_column")(p)
            for n, p in (("max", max_pool), ("mean", mean_pool))]
    pooled = keras.layers.Flatten(name="pool")(keras.layers.Concatenate(name="pool_pairs")(pair))
    x = keras.layers.BatchNormalization(epsilon=1e-3, name="pool_norm")(pooled)
    x = keras.layers.Dropout(0.5, name="pool_dropout")(x)
    x = keras.layers.Dense(size["backend"], activation="relu", name="penultimate_dense")(x)
    penultimate = keras.layers.BatchNormalization(epsilon=1e-3, name="penultimate")(x)
    x = keras.layers.Dropout(0.5, name="penultimate_dropout")(penultimate)
    logits = keras.layers.Dense(size["tags"], name="tag_logits")(x)
    taggram = keras.layers.Activation("sigmoid", name="taggram")(logits)
    return keras.Model(inputs, [taggram, penultimate, mean_pool, max_pool], name=architecture)


def load_checkpoint_weights(model, variables):
    """Set ``model``'s weights from a TF1 checkpoint's ``{variable name: array}`` (as
    TensorFlow's ``NewCheckpointReader`` reads it). Every layer with weights must find
    its variables with their shapes (convolution kernels that TF1 wrote as 2-D over a one-band
    image become 1-D kernels), and every variable of the network must be used: otherwise
    ``ValueError`` names what is missing or left over. Returns the names used."""
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in CHECKPOINT_NAMES:
            raise ValueError(f"layer {layer.name!r} has weights but no checkpoint name")
        scope = CHECKPOINT_NAMES[layer.name]
        if isinstance(layer, keras.layers.BatchNormalization):
            names = [f"{scope}/{v}" for v in ("gamma", "beta", "moving_mean", "moving_variance")]
        else:
            names = [f"{scope}/kernel", f"{scope}/bias"]
        missing = [n for n in names if n not in variables]
        if missing:
            raise ValueError(f"the checkpoint has no {', '.join(missing)} (layer {layer.name!r})")
        values = []
        for name, weight in zip(names, layer.weights):
            value, shape = np.asarray(variables[name], dtype=np.float32), tuple(weight.shape)
            if (value.ndim == 4 and value.shape[2] == 1 and len(shape) == 3
                    and value.shape[:2] + value.shape[3:] == shape):
                value = value[:, :, 0, :]  # (7, width, 1, filters): a Conv1D kernel (7, width, filters)
            if value.shape != shape:
                raise ValueError(f"{name} has shape {value.shape}; layer {layer.name!r} needs {shape}")
            values.append(value)
        layer.set_weights(values)
        used.update(names)
    network = {n for n in variables if n not in OPTIMIZER_STATE
               and not n.split("/")[-1].startswith("Adam")}  # Adam's moments of each variable
    if network - used:
        raise ValueError(f"checkpoint variables left unused: {sorted(network - used)}")
    return sorted(used)

