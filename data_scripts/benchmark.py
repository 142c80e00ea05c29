"""``python -m data_scripts benchmark``: ``prepare`` against a naive per-feature librosa loop.

The naive loop is how the Kaggle tables are usually made: one librosa call per feature, each
computing its own STFT from the signal, for the 30 s clip and again for each 3 s segment, one clip
after another. Both make the same outputs from the same clips in one run; the script checks that
the values agree, then prints both times and the speed-up. A benchmark, not a test: the ratio
depends on the machine (target: 10x or more on 2 cores) and, a little, on the number of clips:
prepare's fixed start-up (worker processes, loading the compiled median kernel) is about a second.
"""
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genrelab import SR, features
from genrelab.dataset import find_audio_root, index_audio


def naive_table_row(y, sr=SR):
    """The 57 features, one librosa call (and one STFT) per feature."""
    import librosa

    row = []
    for f in (librosa.feature.chroma_stft(y=y, sr=sr), librosa.feature.rms(y=y),
              librosa.feature.spectral_centroid(y=y, sr=sr),
              librosa.feature.spectral_bandwidth(y=y, sr=sr),
              librosa.feature.spectral_rolloff(y=y, sr=sr),
              librosa.feature.zero_crossing_rate(y)):
        row += [f.mean(), f.var()]
    y_harm, y_perc = librosa.effects.hpss(y)
    row += [y_harm.mean(), y_harm.var(), y_perc.mean(), y_perc.var()]
    row.append(librosa.feature.tempo(y=y, sr=sr)[0])
    for c in librosa.feature.mfcc(y=y, sr=sr, n_mfcc=features.N_MFCC_TABLE):
        row += [c.mean(), c.var()]
    return row


def naive_clip(path, image_path):
    """Everything ``prepare`` makes for one clip, the naive way."""
    import librosa

    from data_scripts.prepare import _save_image

    y, _ = librosa.load(path, sr=SR)
    segs = [y[i * features.SEGMENT_SAMPLES:(i + 1) * features.SEGMENT_SAMPLES]
            for i in range(min(features.SEGMENTS_PER_CLIP, y.size // features.SEGMENT_SAMPLES))]
    mel_db = lambda s: librosa.power_to_db(librosa.feature.melspectrogram(y=s, sr=SR))  # noqa
    _save_image(mel_db(y), image_path)
    return {"features_30s": naive_table_row(y),
            "features_3s": [naive_table_row(s) for s in segs],
            "mfcc": [librosa.feature.mfcc(y=s, sr=SR, n_mfcc=features.N_MFCC_SEQUENCE,
                                          n_fft=features.N_FFT, hop_length=features.HOP).T
                     for s in segs],
            "logmel": [mel_db(s) for s in segs]}


def pick_clips(index, n):
    """``n`` clips spread over the genres (round robin), deterministic."""
    ranked = index.assign(rank=index.groupby("genre").cumcount()).sort_values(["rank", "genre"])
    return ranked.head(n)


def run(n_clips=40, audio_root=None, workers=None):
    from data_scripts.prepare import prepare

    root = Path(audio_root) if audio_root else find_audio_root()
    clips = pick_clips(index_audio(root), n_clips).sort_index()  # prepare's row order
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        naive = [naive_clip(r.path, Path(tmp) / f"{r.track_id}.png") for r in clips.itertuples()]
        t_naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = prepare(root, Path(tmp) / "prepared", workers=workers, bandlimit="none",
                      track_ids=list(clips.track_id), progress=False)
        t_fast = time.perf_counter() - t0
        ours30 = pd.read_csv(out / "features_30_sec.csv")
        ours3 = pd.read_csv(out / "features_3_sec.csv")
        with np.load(out / "mfcc_segments.npz") as f:
            mfcc = f["X"]
        with np.load(out / "logmel_segments.npz") as f:
            logmel = f["X"]
    pairs = {
        "features_30s": (np.array([n["features_30s"] for n in naive]),
                         ours30[features.FEATURE_COLUMNS].to_numpy()),
        "features_3s": (np.array([r for n in naive for r in n["features_3s"]]),
                        ours3[features.FEATURE_COLUMNS].to_numpy()),
        "mfcc": (np.concatenate([n["mfcc"] for n in naive]), mfcc),
        "logmel": (np.concatenate([n["logmel"] for n in naive]), logmel),
    }
    print(f"{len(clips)} clips from {root}")
    equal = True
    for name, (a, b) in pairs.items():
        scale = np.abs(a).max(axis=0) + 1e-12
        err = float(np.max(np.abs(a - b) / scale))
        equal &= a.shape == b.shape and err < 1e-4
        print(f"  {name:13s} shape {b.shape}  max difference {err:.1e} of the column's range")
    print(f"naive per-feature loop: {t_naive:7.2f} s  ({t_naive / len(clips):.3f} s/clip)")
    print(f"prepare:                {t_fast:7.2f} s  ({t_fast / len(clips):.3f} s/clip)")
    print(f"speed-up: {t_naive / t_fast:.1f}x   values equal: {'yes' if equal else 'NO'}")
    return t_naive / t_fast, equal


def add_arguments(parser):
    parser.add_argument("--clips", type=int, default=40,
                        help="how many clips (default 40, so that prepare's fixed start-up of "
                             "about a second weighs little, as in a whole data set)")
    parser.add_argument("--audio", type=Path, help="folder holding genres/ (default: found)")
    parser.add_argument("--workers", type=int, help="prepare's processes (default: all cores)")


def main(args):
    _, equal = run(args.clips, args.audio, args.workers)
    return 0 if equal else 1
