"""``python -m data_scripts prepare``: every representation the chapters train on, from audio.

For each clip, in parallel over clips, from one STFT of the clip and one of its 3 s segments
(:func:`genrelab.features.clip_representations`): the Kaggle 57-feature rows for the 30 s clip
and for each 3 s segment, 130x13 MFCC sequences, 128x130 log-mel segments, and a mel-spectrogram
image. Results are cached per clip, so an interrupted or repeated run only does what is missing;
the cache is keyed by the settings and by a digest of the code that computes a clip
(:func:`code_digest`), so changed feature code computes every clip again.
Clips that cannot be decoded are listed in ``problems.csv`` by name, and left out.

In a student release (:func:`genrelab.dataset.is_student_release`) the test tracks are held out:
they are dropped from the clip index before anything is computed (:func:`hold_out`), so no
file of the output names them, and ``dataset.json`` records ``"held_out": ["test"]``. The split
is decided on every clip found, before the hold-out and before decoding, so a track's split is
the same in a release as in the full set the grader prepares.

Output, in ``data/prepared/<dataset>/``: ``features_30_sec.csv`` and ``features_3_sec.csv`` (the
columns of Kaggle's tables), ``mfcc_segments.npz``, ``logmel_segments.npz``, ``images/``,
``splits.csv``, ``problems.csv`` and ``dataset.json`` (what was made, from what, how).
"""
import functools
import hashlib
import inspect
import json
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

import genrelab
from genrelab import GENRES, SR, audio, features, splits
from genrelab.dataset import (HELD_OUT, data_dir, dataset_name, find_audio_root, index_audio,
                              is_student_release)

CACHE_VERSION = 1
IMAGE_SIZE = (432, 288)  # width x height, as Kaggle's images_original/


def _source(obj):
    """The source text of a module or function (read from its file)."""
    return inspect.getsource(obj)


def code_digest():
    """sha256 (16 hex digits) of the code that computes a clip's cache file: the whole of
    ``genrelab/audio.py`` and ``genrelab/features.py``, and this module's per-clip functions.
    It depends on the code's text only (not on where the project lies), so a change to the
    feature code gives new cache files instead of reusing stale ones."""
    digest = hashlib.sha256()
    for obj in (audio, features, _process, _save_image, _magma):
        text = _source(obj)
        digest.update(f"{obj.__name__}\n{len(text)}\n{text}".encode())
    return digest.hexdigest()[:16]


def settings_for(index, bandlimit="auto", held_out=()):
    """The processing settings, and the digest of the code that applies them
    (:func:`code_digest`); ``bandlimit='auto'`` low-passes every clip at 8 kHz when some clips
    of the set reached us band-limited (source rate below 22050 Hz). ``held_out`` (the splits
    a student release leaves out) is one of them where it is not empty, so that a release's
    prepared set never shares a cache with a full one."""
    limited = "source_sample_rate" in index and bool((index.source_sample_rate < SR).any())
    hz = {"auto": 8000 if limited else None, "none": None}.get(bandlimit, bandlimit)
    return {"cache_version": CACHE_VERSION, "sr": SR, "n_fft": features.N_FFT,
            "hop": features.HOP, "n_mels": features.N_MELS,
            "segment_seconds": features.SEGMENT_SECONDS,
            "bandlimit_hz": None if hz is None else int(hz), "code_sha256": code_digest(),
            **({"held_out": sorted(held_out)} if held_out else {})}


def cache_key(settings):
    """The name of the cache folder for ``settings`` (:func:`settings_for`): a digest of them,
    code digest included."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


@functools.cache
def _magma():
    """matplotlib's magma colour map as a 256-entry uint8 RGB table."""
    from matplotlib import colormaps

    cmap = colormaps["magma"]
    return (cmap(np.arange(cmap.N))[:, :3] * 255).astype(np.uint8)


def _save_image(db, path):
    """A mel spectrogram as a colour PNG (magma, low frequencies at the bottom).

    The colours are those of ``colormaps["magma"](level)``, looked up the way matplotlib does
    (level x 256, the top level kept in the last entry) from a uint8 table; PNG compression level
    1 (files about 10% larger than level 6, written four times faster)."""
    from PIL import Image

    table = _magma()
    level = np.clip((db - db.max() + features.TOP_DB) / features.TOP_DB, 0, 1)[::-1]
    index = np.minimum((level * len(table)).astype(np.int16), len(table) - 1)
    Image.fromarray(table[index]).resize(IMAGE_SIZE, Image.BILINEAR).save(path,
                                                                          compress_level=1)


def _cache_file(cache, track_id, path):
    """A clip's cache file, named after the audio file's identity (path, size, modification
    time): a replaced or regenerated clip is computed again."""
    st = Path(path).stat()
    tag = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:10]
    return cache / f"{track_id}-{tag}.npz"


def _one_thread():
    """Parallelism is over clips: one BLAS/OpenMP thread per worker, not cores x cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _process(path, track_id, genre, cache, image_dir, bandlimit_hz):
    """One clip: compute, then write its cache file atomically. Returns an error or None."""
    try:
        y = audio.load_clip(path, bandlimit_hz=bandlimit_hz)
    except audio.AudioError as err:
        return str(err)
    reps = features.clip_representations(y)
    (image_dir / genre).mkdir(parents=True, exist_ok=True)
    _save_image(reps.pop("logmel_30s"), image_dir / genre / f"{track_id}.png")
    target = _cache_file(cache, track_id, path)
    tmp = target.with_suffix(".tmp.npz")
    np.savez(tmp, length=y.size, **reps)
    os.replace(tmp, target)
    return None


FORK_UNSAFE_MODULES = ("jax", "torch", "tensorflow")
"""Libraries whose state does not survive a fork: where one is imported, workers are spawned."""


def _fork_unsafe():
    return any(name in sys.modules for name in FORK_UNSAFE_MODULES)


def held_out_for(held_out=None):
    """The splits ``prepare`` leaves out: ``held_out`` when given, else
    :data:`genrelab.dataset.HELD_OUT` (``test``) in a student release and none elsewhere."""
    if held_out is None:
        held_out = HELD_OUT if is_student_release() else ()
    return tuple(held_out)


def hold_out(index, split, held_out):
    """The clips of ``index`` whose split (``split``: one per row of ``index``) is not one of
    ``held_out``, and their splits: ``(index, split)``. ``prepare`` applies it to the clip index
    before any clip is decoded, so the held-out tracks' features are never computed."""
    split = np.asarray(split, dtype=object)
    if len(split) != len(index):
        raise ValueError(f"{len(split)} splits for {len(index)} clips")
    keep = ~np.isin(split, list(held_out))
    return index[keep].reset_index(drop=True), split[keep]


def prepare(audio_root=None, out=None, workers=None, bandlimit="auto", track_ids=None,
            seed=0, progress=True, clean=False, held_out=None):
    """Prepare a data set; returns the output folder. ``track_ids`` limits it to some clips;
    ``clean`` discards the cache of earlier runs first; ``held_out`` names splits to leave out
    (default: :func:`held_out_for`, ``test`` in a student release)."""
    from tqdm.auto import tqdm

    root = Path(audio_root) if audio_root else find_audio_root()
    index = index_audio(root)
    name = dataset_name(root, len(index))
    if track_ids is not None:
        index = index[index.track_id.isin(track_ids)].reset_index(drop=True)
    held_out = held_out_for(held_out)
    out = Path(out) if out else data_dir() / "prepared" / name
    # Settings and split from every clip found: the same as the full set's, held out or not.
    settings = settings_for(index, bandlimit, held_out)
    split_of, split_name = splits.default(index, synthetic=name == "synthetic", seed=seed)
    found = index
    index, split_of = hold_out(index, split_of, held_out)
    if index.empty:
        raise RuntimeError(f"{root}: all {len(found)} clips are in the held-out splits "
                           f"({', '.join(held_out)})")
    cache, image_dir = out / "cache" / cache_key(settings), out / "images"
    if clean:
        shutil.rmtree(out / "cache", ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)

    todo = index[[not _cache_file(cache, r.track_id, r.path).is_file()
                  for r in index.itertuples()]]
    problems = {}
    if len(todo):
        features.compile_kernels()  # once, before the workers fork
        # Forked workers inherit the parent's state; TensorFlow's does not survive a fork (a
        # worker aborts when it garbage-collects a TensorFlow function), nor do JAX's and
        # PyTorch's thread pools, so a process that has imported one of them starts fresh
        # workers instead.
        context = multiprocessing.get_context("spawn" if _fork_unsafe() else None)
        with ProcessPoolExecutor(workers or os.cpu_count(), mp_context=context,
                                 initializer=_one_thread) as pool:
            jobs = {pool.submit(_process, r.path, r.track_id, r.genre, cache, image_dir,
                                settings["bandlimit_hz"]): r.track_id for r in todo.itertuples()}
            for job in tqdm(as_completed(jobs), total=len(jobs), desc=f"prepare {name}",
                            disable=not progress, file=sys.stderr):
                if (error := job.result()) is not None:
                    problems[jobs[job]] = error
    readable = ~index.track_id.isin(problems).to_numpy()
    ok, split = index[readable].reset_index(drop=True), split_of[readable]
    if ok.empty:
        raise RuntimeError(f"{root}: none of the {len(index)} clips could be read")
    _assemble(ok, cache, out)
    for r in found[~found.track_id.isin(index.track_id)].itertuples():  # held out: no image,
        (image_dir / r.genre / f"{r.track_id}.png").unlink(missing_ok=True)  # even a stale one
    ok.assign(split=split)[["track_id", "genre", "split"]].to_csv(out / "splits.csv", index=False)
    pd.DataFrame({"track_id": list(problems), "problem": list(problems.values())},
                 columns=["track_id", "problem"]).to_csv(out / "problems.csv", index=False)
    info = {"name": name, "audio_root": str(root), "clips_found": len(found),
            "clips_prepared": len(ok), "problems": problems, "split": split_name,
            "split_counts": pd.Series(split).value_counts().to_dict(),
            "settings": settings, "genrelab_version": genrelab.__version__,
            **({"held_out": list(held_out), "clips_held_out": len(found) - len(index)}
               if held_out else {})}
    (out / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")
    return out


def _assemble(index, cache, out):
    """Stack the per-clip cache files into the tables and arrays."""
    rows30, rows3, mfcc, logmel, seg_ids = [], [], [], [], []
    for r in index.itertuples():
        with np.load(_cache_file(cache, r.track_id, r.path)) as c:
            ext = Path(r.path).suffix
            rows30.append([f"{r.track_id}{ext}", int(c["length"]), *c["features_30s"], r.genre])
            for k, feats in enumerate(c["features_3s"]):
                rows3.append([f"{r.track_id}.{k}{ext}", features.SEGMENT_SAMPLES, *feats,
                              r.genre])
            mfcc.append(c["mfcc"])
            logmel.append(c["logmel"])
            seg_ids += [(r.track_id, k) for k in range(len(c["mfcc"]))]
    columns = ["filename", "length", *features.FEATURE_COLUMNS, "label"]
    for rows, name in ((rows30, "features_30_sec.csv"), (rows3, "features_3_sec.csv")):
        pd.DataFrame(rows, columns=columns).to_csv(out / name, index=False)
    track_id = np.array([t for t, _ in seg_ids])
    labels = np.array([GENRES.index(t.split(".")[0]) for t in track_id])
    common = {"y": labels, "track_id": track_id, "segment": np.array([k for _, k in seg_ids])}
    np.savez(out / "mfcc_segments.npz", X=np.concatenate(mfcc), **common)
    np.savez(out / "logmel_segments.npz", X=np.concatenate(logmel), **common)


def add_arguments(parser):
    parser.add_argument("--audio", type=Path, help="folder holding genres/ (default: found)")
    parser.add_argument("--out", type=Path, help="output folder (default: data/prepared/NAME)")
    parser.add_argument("--workers", type=int, help="processes (default: one per core)")
    parser.add_argument("--bandlimit", default="auto",
                        help="'auto' (8 kHz when some clips are band-limited), 'none' or Hz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fallback track split")
    parser.add_argument("--clean", action="store_true", help="discard the cache first")


def main(args):
    bandlimit = args.bandlimit if args.bandlimit in ("auto", "none") else float(args.bandlimit)
    out = prepare(args.audio, args.out, args.workers, bandlimit, seed=args.seed,
                  clean=args.clean)
    info = json.loads((out / "dataset.json").read_text())
    print(f"prepared {info['clips_prepared']} of {info['clips_found']} clips of "
          f"'{info['name']}' into {out} (split: {info['split']} {info['split_counts']})")
    if info.get("held_out"):
        print(f"  held out: the {info['clips_held_out']} clips of the {', '.join(info['held_out'])}"
              " split (a student release: only the grader evaluates on them)")
    for track_id, problem in info["problems"].items():
        print(f"  left out {track_id}: {problem}")
