"""Finding the audio (GTZAN, or the embedded sample set) and the tables ``prepare`` made from it.
Used by every chapter; the layouts are explained in the *Setup* page (``book/setup.md``).

Where data lives (``data/`` under the project root unless ``GENRELAB_DATA_DIR`` says otherwise)::

    data/gtzan/genres/<genre>/<genre>.000NN.au      GTZAN, from ``python -m data_scripts download``
    data/synthetic/genres/<genre>/<genre>.000NN.wav the embedded sample set (``... synthetic``)
    data/splits/kereliuk_sturm/*_filtered.txt       the fault-filtered split lists
    data/prepared/<dataset>/                        tables and arrays from ``... prepare``

The audio is looked for, in order: ``GENRELAB_AUDIO``; ``data/gtzan``; a GTZAN copy in
``../shared/data/gtzan`` beside the project (course staff and CI); the embedded sample set.
"""
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from genrelab import GENRES
from genrelab.features import FEATURE_COLUMNS

AUDIO_EXTENSIONS = ("au", "wav", "opus", "ogg", "flac", "mp3")
_CLIP_NAME = re.compile(rf"^({'|'.join(GENRES)})\.(\d{{5}})\.({'|'.join(AUDIO_EXTENSIONS)})$")


class DataNotFound(FileNotFoundError):
    """The audio or a prepared table is not where it should be; the message says what to run."""


def project_root():
    return Path(__file__).resolve().parents[1]


def data_dir():
    return Path(os.environ.get("GENRELAB_DATA_DIR") or project_root() / "data")


def shared_gtzan():
    """The course staff's GTZAN copy beside the project, if there is one."""
    return project_root().parent / "shared" / "data" / "gtzan"


def find_audio_root():
    """The folder holding ``genres/``: the first of the places listed in this module's doc."""
    env = os.environ.get("GENRELAB_AUDIO")
    candidates = [Path(env)] if env else [data_dir() / "gtzan", shared_gtzan(),
                                          data_dir() / "synthetic"]
    for root in candidates:
        if any(_genre_dirs(root)):
            return root
    raise DataNotFound(
        "No audio found (looked in: " + ", ".join(map(str, candidates)) + "). Run "
        "`python -m data_scripts download` for GTZAN, or `python -m data_scripts synthetic` "
        "for the embedded sample set.")


def _genre_dirs(root):
    root = Path(root)
    for base in (root / "genres", root / "genres_original", root):
        dirs = [base / g for g in GENRES if (base / g).is_dir()]
        if dirs:
            return dirs
    return []


def index_audio(root):
    """One row per clip under ``root``: ``track_id`` (``blues.00000``), ``genre``, ``path``,
    ``format`` and, where a ``manifest.csv`` says so, ``source_sample_rate``.

    Reads GTZAN's original ``.au`` layout, Kaggle's ``genres_original/*.wav`` and the course
    staff's Opus copy alike. Files that are not GTZAN clips are ignored."""
    rows = []
    for genre_dir in _genre_dirs(root):
        for path in sorted(genre_dir.iterdir()):
            m = _CLIP_NAME.match(path.name)
            if m and m.group(1) == genre_dir.name:
                rows.append({"track_id": f"{m.group(1)}.{m.group(2)}", "genre": m.group(1),
                             "path": str(path), "format": m.group(3)})
    if not rows:
        raise DataNotFound(f"{root}: no GTZAN-named clips (genre/genre.000NN.au|wav|opus) found")
    index = pd.DataFrame(rows)
    dupes = index.track_id[index.track_id.duplicated()].unique()
    if len(dupes):
        raise ValueError(f"{root}: clips present in more than one format: {', '.join(dupes[:5])}")
    manifest = Path(root) / "manifest.csv"
    if manifest.is_file():
        rates = pd.read_csv(manifest, usecols=["file", "source_sample_rate"])
        rates["track_id"] = rates.file.str.extract(r"([a-z]+\.\d{5})\.\w+$", expand=False)
        index = index.merge(rates[["track_id", "source_sample_rate"]], on="track_id", how="left")
    return index


def dataset_name(root, n_clips):
    """``synthetic``, ``gtzan`` (complete) or ``gtzan-<n>`` (a partial copy of n clips)."""
    if (Path(root) / "SYNTHETIC").is_file():
        return "synthetic"
    return "gtzan" if n_clips >= 999 else f"gtzan-{n_clips}"


def prepared_dir(name=None):
    """``data/prepared/<name>``; by default the data set :func:`find_audio_root` finds.

    ``GENRELAB_DATASET`` names one explicitly (e.g. ``synthetic``)."""
    name = name or os.environ.get("GENRELAB_DATASET")
    if name is None:
        root = find_audio_root()
        name = dataset_name(root, len(index_audio(root)))
    return data_dir() / "prepared" / name


def _prepared_file(name, filename):
    path = prepared_dir(name) / filename
    if not path.is_file():
        raise DataNotFound(f"{path} is missing: run `python -m data_scripts prepare` first")
    return path


def dataset_info(name=None):
    """What ``prepare`` recorded about a prepared data set (source, clips, split, settings)."""
    return json.loads(_prepared_file(name, "dataset.json").read_text())


def load_table(kind="30s", name=None):
    """The Kaggle-style feature table (``30s`` or ``3s``) with ``track_id``, ``genre`` and
    ``split`` columns added (a 3 s segment always shares its track's split)."""
    table = pd.read_csv(_prepared_file(name, f"features_{kind.replace('s', '_sec')}.csv"))
    splits = load_splits(name)
    table["track_id"] = table.filename.str.extract(r"^([a-z]+\.\d{5})", expand=False)
    return table.merge(splits[["track_id", "split"]], on="track_id", how="inner")


def load_splits(name=None):
    """``track_id``, ``genre``, ``split`` (train/valid/test/excluded) of a prepared data set."""
    return pd.read_csv(_prepared_file(name, "splits.csv"))


def xy(table, split):
    """Feature matrix (float32, columns in :data:`FEATURE_COLUMNS` order) and integer labels of
    one split of a table from :func:`load_table`."""
    part = table[table.split == split]
    labels = part.label if "label" in part else part.genre
    return (part[FEATURE_COLUMNS].to_numpy(np.float32),
            labels.map({g: i for i, g in enumerate(GENRES)}).to_numpy(np.int64))


def load_segments(kind="mfcc", name=None):
    """Segment arrays: ``X`` (``mfcc``: n x 130 x 13; ``logmel``: n x 128 x 130), ``y``,
    ``track_id`` and ``split`` (from the track), as a dict of numpy arrays."""
    with np.load(_prepared_file(name, f"{kind}_segments.npz")) as f:
        arrays = dict(f)
    split_of = load_splits(name).set_index("track_id").split
    arrays["split"] = split_of.reindex(arrays["track_id"]).to_numpy()
    return arrays
