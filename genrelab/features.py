"""Audio features: the Kaggle 57-feature table, MFCC sequences and log-mel segments.
Derived step by step in chapter 2, *MFCCs and audio features* (``book/02_features.ipynb``).

Everything a clip needs comes from **one** short-time Fourier transform per signal (the whole
30 s clip, or its 3 s segments as one batch). The values equal what librosa's per-feature calls
give (``librosa.feature.mfcc(y=...)``, ``librosa.effects.hpss(y)`` and so on, each recomputing its
own STFT); ``data_scripts/benchmark.py`` checks that and measures the speed-up.

Shapes: a signal ``y`` may be one clip ``(n,)`` or a batch ``(k, n)`` (the segments of a clip).
"""
import numpy as np

from genrelab import SR

N_FFT = 2048
HOP = 512
N_MELS = 128
TOP_DB = 80.0
SEGMENT_SECONDS = 3
SEGMENT_SAMPLES = SEGMENT_SECONDS * SR          # 66150 samples
SEGMENTS_PER_CLIP = 10
SEGMENT_FRAMES = 1 + SEGMENT_SAMPLES // HOP     # 130 frames, as in the seed project
N_MFCC_TABLE = 20                               # the Kaggle table's mfcc1..mfcc20
N_MFCC_SEQUENCE = 13                            # the seed's LSTM input: 130 x 13 per segment
HPSS_KERNEL = 31

FEATURE_COLUMNS = [
    f"{name}_{stat}"
    for name in ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
                 "zero_crossing_rate", "harmony", "perceptr")
    for stat in ("mean", "var")
] + ["tempo"] + [f"mfcc{i}_{stat}" for i in range(1, N_MFCC_TABLE + 1) for stat in ("mean", "var")]
"""The 57 feature columns of Kaggle's ``features_30_sec.csv``, in its order."""


def segments(y):
    """Cut a clip into consecutive 3 s segments, ``(k, 66150)``; the remainder is dropped."""
    k = min(SEGMENTS_PER_CLIP, y.shape[-1] // SEGMENT_SAMPLES)
    if k == 0:
        raise ValueError(f"a clip of {y.shape[-1]} samples is shorter than one 3 s segment")
    return y[: k * SEGMENT_SAMPLES].reshape(k, SEGMENT_SAMPLES)


def stft(y):
    """The one STFT everything else is computed from (librosa's defaults: 2048/512, Hann)."""
    import librosa

    return librosa.stft(y, n_fft=N_FFT, hop_length=HOP)


def log_mel(power, sr=SR):
    """Mel spectrogram in dB (128 bands), clipped at 80 dB below each signal's own peak,
    as ``librosa.power_to_db(librosa.feature.melspectrogram(y=y))`` does for one signal."""
    import librosa

    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_fft=N_FFT, n_mels=N_MELS)
    db = librosa.power_to_db(mel, top_db=None)
    peak = db.max(axis=(-2, -1), keepdims=True)
    return np.maximum(db, peak - TOP_DB)


def mfcc(db_mel, n_mfcc):
    """MFCCs from a dB mel spectrogram: the type-II orthonormal DCT over mel bands."""
    import librosa

    return librosa.feature.mfcc(S=db_mel, n_mfcc=n_mfcc)


def _median(x, size, axis):
    """Exactly ``scipy.ndimage.median_filter(x, size, mode='reflect')`` along one axis, but a
    moving median (bottleneck) instead of a sort per window: about 10x faster."""
    import bottleneck

    half = size // 2
    x = np.moveaxis(x, axis, -1)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="symmetric")
    return np.moveaxis(bottleneck.move_median(padded, size, axis=-1)[..., size - 1:], -1, axis)


def hpss(D, length, S=None):
    """Harmonic and percussive signals, as ``librosa.effects.hpss(y)`` computes them (median
    filters of 31 bins, soft masks of power 2), from an STFT ``D`` (and ``|D|``) already at hand."""
    import librosa

    S = np.abs(D) if S is None else S
    harm = _median(S, HPSS_KERNEL, axis=-1) ** 2
    perc = _median(S, HPSS_KERNEL, axis=-2) ** 2
    total = harm + perc
    mask_h = np.divide(harm, total, out=np.full_like(harm, 0.5), where=total > 0)
    return tuple(librosa.istft(D * m, n_fft=N_FFT, hop_length=HOP, length=length,
                               dtype=np.float32) for m in (mask_h, 1 - mask_h))


def _chroma(power, sr):
    """Chroma with each signal's own tuning estimate, as ``chroma_stft(y=...)`` per signal."""
    import librosa

    flat = power.reshape((-1,) + power.shape[-2:])
    out = [librosa.feature.chroma_stft(S=p, sr=sr, tuning=librosa.estimate_tuning(S=p, sr=sr))
           for p in flat]
    return np.stack(out).reshape(power.shape[:-2] + out[0].shape)


def _mean_var(x, axes):
    return [x.mean(axis=axes), x.var(axis=axes)]


def spectra(y, sr=SR):
    """``(D, magnitude, power, dB mel)`` of a signal: the one STFT and what follows from it."""
    D = stft(y)
    mag = np.abs(D)
    power = mag ** 2
    return D, mag, power, log_mel(power, sr)


def table_features(y, sr=SR, spec=None):
    """The 57 Kaggle features of a signal, ``(57,)`` or ``(k, 57)`` for a batch ``(k, n)``.

    Pass ``spec`` (:func:`spectra` of ``y``) when already computed.
    """
    import librosa

    D, mag, power, db_mel = spectra(y, sr) if spec is None else spec
    y_harm, y_perc = hpss(D, y.shape[-1], mag)
    onset = librosa.onset.onset_strength(S=db_mel, sr=sr)
    per_frame = [
        _chroma(power, sr),
        librosa.feature.rms(y=y),
        librosa.feature.spectral_centroid(S=mag, sr=sr),
        librosa.feature.spectral_bandwidth(S=mag, sr=sr),
        librosa.feature.spectral_rolloff(S=mag, sr=sr),
        librosa.feature.zero_crossing_rate(y),
    ]
    cols = [stat for f in per_frame for stat in _mean_var(f, (-2, -1))]
    cols += _mean_var(y_harm, -1) + _mean_var(y_perc, -1)
    cols.append(librosa.feature.tempo(onset_envelope=onset, sr=sr)[..., 0])
    coeffs = mfcc(db_mel, N_MFCC_TABLE)
    cols += [stat for c in range(N_MFCC_TABLE) for stat in _mean_var(coeffs[..., c, :], -1)]
    return np.stack(cols, axis=-1).astype(np.float64)


def clip_representations(y, sr=SR):
    """Everything ``prepare`` stores for one clip, from two STFTs (clip and segment batch).

    Returns a dict: ``features_30s`` (57,), ``features_3s`` (k, 57), ``mfcc`` (k, 130, 13),
    ``logmel`` (k, 128, 130) segment arrays, and ``logmel_30s`` (128, frames) for the image.
    """
    seg = segments(y)
    clip_spec, seg_spec = spectra(y, sr), spectra(seg, sr)
    seg_db = seg_spec[-1]
    return {
        "features_30s": table_features(y, sr, clip_spec),
        "features_3s": table_features(seg, sr, seg_spec),
        "mfcc": np.swapaxes(mfcc(seg_db, N_MFCC_SEQUENCE), -1, -2).astype(np.float32),
        "logmel": seg_db.astype(np.float32),
        "logmel_30s": clip_spec[-1].astype(np.float32),
    }
