"""``python -m data_scripts benchmark``: ``prepare`` against a naive per-feature librosa loop.

The naive loop is how the Kaggle tables are usually made: one librosa call per feature, each
computing its own STFT from the signal, for the 30 s clip and again for each 3 s segment, one clip
after another. Both make the same outputs from the same clips in one run; the script checks that
the values agree, then prints two speed-ups, each measured in this run:

- **per core**: one process each, one BLAS thread each (the naive loop, ``prepare --workers 1``);
- **whole machine**: the same number of worker processes for both (the naive loop spread over
  clips like ``prepare``), one per core by default.

A benchmark, not a test: the ratios depend on the machine (goal: 10x per core) and, a little, on
the number of clips: prepare's fixed start-up (worker processes, loading the compiled median
kernel) is about a second. ``--record`` writes the figures to ``autograder/results/benchmark.json``,
from which the README's benchmark paragraph is generated.
"""
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genrelab import SR, features
from genrelab.dataset import dataset_name, find_audio_root, index_audio


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


def _naive_worker(args):
    from threadpoolctl import threadpool_limits

    path, image_path = args
    with threadpool_limits(1):
        return naive_clip(path, image_path)


def _naive(clips, tmp, workers):
    """The naive loop over ``clips``: in this process (``workers=1``), or over a process pool."""
    jobs = [(r.path, Path(tmp) / f"{r.track_id}.png") for r in clips.itertuples()]
    if workers == 1:
        return [_naive_worker(job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_naive_worker, jobs))


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _compare(naive, out):
    """Largest difference of each output, as a fraction of its column's range."""
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
    diffs = {}
    for name, (a, b) in pairs.items():
        if a.shape != b.shape:
            diffs[name] = {"shape": list(b.shape), "max_difference": None}
            continue
        scale = np.abs(a).max(axis=0) + 1e-12
        diffs[name] = {"shape": list(b.shape),
                       "max_difference": float(np.max(np.abs(a - b) / scale))}
    return diffs


def run(n_clips=40, audio_root=None, workers=None):
    """Both speed-ups, measured in one run; returns the record (see the module docstring)."""
    from data_scripts.prepare import prepare

    workers = workers or os.cpu_count()
    root = Path(audio_root) if audio_root else find_audio_root()
    clips = pick_clips(index_audio(root), n_clips).sort_index()  # prepare's row order
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, n in (("one", 1), ("all", workers)):
            naive, times[f"naive_{label}"] = _timed(_naive, clips, tmp, n)
            out, times[f"prepare_{label}"] = _timed(
                prepare, root, Path(tmp) / f"prepared-{label}", workers=n, bandlimit="none",
                track_ids=list(clips.track_id), progress=False)
            diffs = _compare(naive, out)  # the same naive outputs both times
    equal = all(d["max_difference"] is not None and d["max_difference"] < 1e-4
                for d in diffs.values())
    from autograder.reference import code_version, hardware_of_machine

    record = {"clips": len(clips), "audio": dataset_name(root, len(index_audio(root))),
              "workers": workers, "machine": hardware_of_machine(),
              "seconds_per_clip": {k: round(v / len(clips), 4) for k, v in times.items()},
              "speedup_per_core": round(times["naive_one"] / times["prepare_one"], 2),
              "speedup_whole_machine": round(times["naive_all"] / times["prepare_all"], 2),
              "values": diffs, "values_equal": equal, "code": code_version(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    print(f"{len(clips)} clips from {root}")
    for name, d in diffs.items():
        err = "shapes differ" if d["max_difference"] is None else f"{d['max_difference']:.1e}"
        print(f"  {name:13s} shape {tuple(d['shape'])}  max difference {err} of the column's range")
    spc = record["seconds_per_clip"]
    print(f"per core (1 process each):     naive {spc['naive_one']:.3f} s/clip, prepare "
          f"{spc['prepare_one']:.3f} s/clip: speed-up {record['speedup_per_core']:.1f}x")
    print(f"whole machine ({workers} processes each): naive {spc['naive_all']:.3f} s/clip, "
          f"prepare {spc['prepare_all']:.3f} s/clip: speed-up "
          f"{record['speedup_whole_machine']:.1f}x")
    print(f"values equal: {'yes' if equal else 'NO'}")
    return record


RECORD = Path(__file__).resolve().parents[1] / "autograder" / "results" / "benchmark.json"


def add_arguments(parser):
    parser.add_argument("--clips", type=int, default=40,
                        help="how many clips (default 40, so that prepare's fixed start-up of "
                             "about a second weighs little, as in a whole data set)")
    parser.add_argument("--audio", type=Path, help="folder holding genres/ (default: found)")
    parser.add_argument("--workers", type=int,
                        help="processes for the whole-machine ratio (default: all cores)")
    parser.add_argument("--record", action="store_true",
                        help=f"write the figures to {RECORD.relative_to(RECORD.parents[2])}")


def main(args):
    record = run(args.clips, args.audio, args.workers)
    if args.record:
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"recorded in {RECORD}")
    return 0 if record["values_equal"] else 1
