"""Audio features: the Kaggle 57-feature table, MFCC sequences and log-mel segments.
Derived step by step in chapter 2, *MFCCs and audio features* (``book/02_features.ipynb``).

Everything a clip needs comes from **one** short-time Fourier transform per signal (the whole
30 s clip, or its 3 s segments as one batch). The values equal what librosa's per-feature calls
give (``librosa.feature.mfcc(y=...)``, ``librosa.effects.hpss(y)`` and so on, each recomputing its
own STFT); ``data_scripts/benchmark.py`` checks that and measures the speed-up.

Shapes: a signal ``y`` may be one clip ``(n,)`` or a batch ``(k, n)`` (the segments of a clip).
"""
import functools

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


LANES = 16
"""Rows filtered side by side by :func:`_sliding_median` (one AVX-512 register of float32)."""


def _sliding_median(x, size, out):
    """Sliding median over axis 1 of ``x`` ``(groups, n + size - 1, LANES)``, LANES rows at once.

    The window's values sit in a ring buffer with their ranks, ordered by (value, age). When a
    value enters and the oldest leaves, every rank moves by the outcome of two comparisons, and
    the median is the value whose rank is ``size // 2``: no sorting and no branch, the same few
    operations on every lane, which the compiler turns into vector instructions.
    """
    half = size // 2
    n_groups, _, lanes = x.shape
    buf = np.empty((size, lanes), x.dtype)
    rank = np.empty((size, lanes), np.int32)
    count = np.empty(lanes, np.int32)
    index = np.empty(lanes, np.int32)
    for g in range(n_groups):
        rows = x[g]
        for i in range(size):
            for lane in range(lanes):
                buf[i, lane] = rows[i, lane]
        rank[:] = 0
        for i in range(size):
            for k in range(size):
                for lane in range(lanes):
                    rank[i, lane] += ((buf[k, lane] < buf[i, lane])
                                      | ((buf[k, lane] == buf[i, lane]) & (k < i)))
        oldest = 0
        for j in range(out.shape[1]):
            if j > 0:
                new, old = rows[j + size - 1], buf[oldest]
                count[:] = 0
                for i in range(size):
                    b, r = buf[i], rank[i]
                    for lane in range(lanes):
                        r[lane] += (new[lane] < b[lane]) - (old[lane] <= b[lane])
                        count[lane] += b[lane] <= new[lane]
                for lane in range(lanes):
                    rank[oldest, lane] = count[lane] - (old[lane] <= new[lane])
                    buf[oldest, lane] = new[lane]
                oldest = (oldest + 1) % size
            index[:] = 0
            for i in range(size):
                r = rank[i]
                for lane in range(lanes):
                    index[lane] += i * (r[lane] == half)
            for lane in range(lanes):
                out[g, j, lane] = buf[index[lane], lane]
    return out


@functools.cache
def _compiled_median():
    import numba

    return numba.njit(cache=True, nogil=True)(_sliding_median)


def compile_kernels():
    """Compile the numba kernels now (a second or two, once per machine thanks to numba's
    cache), e.g. before forking worker processes that would each compile them."""
    _median(np.zeros((1, HPSS_KERNEL), np.float32), HPSS_KERNEL, -1)


def _median(x, size, axis):
    """Exactly ``scipy.ndimage.median_filter(x, size, mode='reflect')`` along one axis (odd
    ``size``), about 2x faster than a moving median by heaps (bottleneck) and 20x faster than
    scipy's sort per window."""
    half = size // 2
    moved = np.moveaxis(np.asarray(x), axis, -1)
    shape, n = moved.shape, moved.shape[-1]
    rows = moved.reshape(-1, n)
    groups = -(-rows.shape[0] // LANES)
    if rows.shape[0] % LANES:
        rows = np.concatenate([rows, np.zeros((groups * LANES - rows.shape[0], n), rows.dtype)])
    # One copy into the kernel's layout, (groups, half + n + half, LANES), the edges reflected
    # as scipy's mode='reflect' (numpy's 'symmetric') does.
    lanes = np.empty((groups, n + 2 * half, LANES), rows.dtype)
    lanes[:, half:half + n] = rows.reshape(groups, LANES, n).transpose(0, 2, 1)
    if n >= half:
        lanes[:, :half] = lanes[:, 2 * half - 1:half - 1:-1]
        lanes[:, half + n:] = lanes[:, half + n - 1:n - 1:-1]
    else:  # a window longer than the axis: the reflections repeat
        padded = np.pad(rows, [(0, 0), (half, half)], mode="symmetric")
        lanes[:] = padded.reshape(groups, LANES, -1).transpose(0, 2, 1)
    out = np.empty((groups, n, LANES), rows.dtype)
    _compiled_median()(lanes, size, out)
    filtered = out.transpose(0, 2, 1).reshape(groups * LANES, n)[: np.prod(shape[:-1], dtype=int)]
    return np.moveaxis(filtered.reshape(shape), -1, axis)


def hpss(D, length, S=None, y=None):
    """Harmonic and percussive signals, as ``librosa.effects.hpss(y)`` computes them (median
    filters of 31 bins, soft masks of power 2), from an STFT ``D`` (and ``|D|``, and the signal
    ``y`` itself) already at hand."""
    import librosa

    S = np.abs(D) if S is None else S
    harm = np.square(_median(S, HPSS_KERNEL, axis=-1))
    total = np.square(_median(S, HPSS_KERNEL, axis=-2))
    total += harm
    mask_h = np.divide(harm, total, out=np.full_like(harm, 0.5), where=total > 0)
    y_harm = librosa.istft(D * mask_h, n_fft=N_FFT, hop_length=HOP, length=length,
                           dtype=np.float32)
    # The two masks sum to one and the inverse STFT is linear, so the percussive signal is the
    # inverse STFT of D minus the harmonic one: the signal itself, which the Hann window at 75%
    # overlap reconstructs exactly (to float32 rounding). One inverse STFT instead of two.
    if y is None:
        y = librosa.istft(D, n_fft=N_FFT, hop_length=HOP, length=length, dtype=np.float32)
    return y_harm, y - y_harm


def _chroma(power, sr):
    """Chroma with each signal's own tuning estimate, as ``chroma_stft(y=...)`` per signal."""
    import librosa

    flat = power.reshape((-1,) + power.shape[-2:])
    out = [librosa.feature.chroma_stft(S=p, sr=sr, tuning=librosa.estimate_tuning(S=p, sr=sr))
           for p in flat]
    return np.stack(out).reshape(power.shape[:-2] + out[0].shape)


def _rolloff(mag, sr, roll_percent=0.85):
    """``librosa.feature.spectral_rolloff(S=mag, sr=sr)``: the lowest bin frequency below which
    85% of a frame's magnitude lies -- the first bin whose running sum reaches it, found by
    argmax instead of a NaN-masked minimum over all bins (the same cumulative sums, 2x faster)."""
    import librosa

    total = np.cumsum(mag, axis=-2)
    first = np.argmax(total >= roll_percent * total[..., -1:, :], axis=-2)
    return librosa.fft_frequencies(sr=sr, n_fft=N_FFT)[first][..., None, :]


def _zero_crossing_rate(y, threshold=1e-10):
    """``librosa.feature.zero_crossing_rate(y)`` (frames of 2048, hop 512, edge-padded,
    samples within 1e-10 of zero counted as positive): the sign changes are found once for the
    whole signal, and each frame's count is a difference of their running sum, instead of
    testing every sample of every (4x overlapping) frame."""
    half = N_FFT // 2
    padded = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(half, half)], mode="edge")
    negative = (padded < 0) & (np.abs(padded) > threshold)
    changes = np.cumsum(negative[..., 1:] != negative[..., :-1], axis=-1)
    changes = np.concatenate([np.zeros(changes.shape[:-1] + (1,), changes.dtype), changes], -1)
    starts = np.arange(1 + (padded.shape[-1] - N_FFT) // HOP) * HOP
    counts = changes[..., starts + N_FFT - 1] - changes[..., starts]
    return (counts / N_FFT)[..., None, :]


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
    y_harm, y_perc = hpss(D, y.shape[-1], mag, y)
    onset = librosa.onset.onset_strength(S=db_mel, sr=sr)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=sr)
    per_frame = [
        _chroma(power, sr),
        librosa.feature.rms(y=y),
        centroid,
        librosa.feature.spectral_bandwidth(S=mag, sr=sr, centroid=centroid),
        _rolloff(mag, sr),
        _zero_crossing_rate(y),
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
