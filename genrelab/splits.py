"""Train/validation/test splits. Derived in *Honest evaluation* (``book/evaluation.ipynb``).

- :func:`fault_filtered` -- Kereliuk, Sturm & Larsen's (2015) artist- and fault-filtered GTZAN
  split (443/197/290 tracks; 70 faulty tracks left out). The default for GTZAN.
- :func:`by_track` -- a seeded, stratified split of whole tracks: the fallback (and the split of
  the embedded sample set).
- :func:`leaky_by_segment` -- segments assigned at random, so one song's segments land in both
  train and test. Exists only for the lesson that measures how much this inflates accuracy.
"""
from pathlib import Path

import numpy as np
import pandas as pd

SPLITS = ("train", "valid", "test")
FILTERED_FILES = {s: f"{s}_filtered.txt" for s in SPLITS}


def read_lists(folder):
    """``track_id -> split`` from the three ``*_filtered.txt`` files (``genre/genre.000NN.wav``)."""
    parts = []
    for split, name in FILTERED_FILES.items():
        lines = (Path(folder) / name).read_text().split()
        ids = [Path(line).stem for line in lines]
        parts.append(pd.Series(split, index=ids))
    return pd.concat(parts)


def find_lists():
    """The folder with the fault-filtered lists: downloaded, or the staff's shared copy."""
    from genrelab.dataset import data_dir, shared_gtzan

    for folder in (data_dir() / "splits" / "kereliuk_sturm",
                   shared_gtzan() / "reference" / "splits_kereliuk_sturm_filtered"):
        if all((folder / f).is_file() for f in FILTERED_FILES.values()):
            return folder
    return None


def fault_filtered(track_ids, folder):
    """Split of each track; tracks the filter removed are ``excluded``."""
    return read_lists(folder).reindex(track_ids).fillna("excluded").to_numpy()


def by_track(track_ids, genres, seed=0, valid=0.2, test=0.2):
    """Stratified by genre, whole tracks only: each genre's tracks shuffled with ``seed`` and
    cut into train/valid/test at the given fractions."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(track_ids), dtype=object)
    genres = np.asarray(genres)
    for genre in np.unique(genres):
        idx = rng.permutation(np.flatnonzero(genres == genre))
        n_test, n_valid = round(test * len(idx)), round(valid * len(idx))
        out[idx[:n_test]] = "test"
        out[idx[n_test:n_test + n_valid]] = "valid"
        out[idx[n_test + n_valid:]] = "train"
    return out


def leaky_by_segment(n_segments, seed=0, valid=0.2, test=0.2):
    """A split of *segments* that ignores which track they came from. Do not use for results."""
    rng = np.random.default_rng(seed)
    u = rng.random(n_segments)
    return np.where(u < test, "test", np.where(u < test + valid, "valid", "train"))


def default(index, synthetic, seed=0):
    """The course's split for an index of clips, and its name: fault-filtered for GTZAN when the
    lists are available, else stratified by track."""
    folder = None if synthetic else find_lists()
    if folder is not None:
        return fault_filtered(index.track_id, folder), "kereliuk-sturm-filtered"
    return by_track(index.track_id, index.genre, seed), f"stratified-by-track-seed{seed}"
