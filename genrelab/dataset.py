"""Finding the audio (GTZAN, or the embedded sample set) and the tables ``prepare`` made from it.
Used by every chapter; the layouts are explained in the *Setup* page (``book/setup.md``).

Where data lives (``data/`` under the project root unless ``GENRELAB_DATA_DIR`` says otherwise)::

    data/gtzan/genres/<genre>/<genre>.000NN.au      GTZAN, from ``python -m data_scripts download``
    data/synthetic/genres/<genre>/<genre>.000NN.wav the embedded sample set (``... synthetic``)
    data/splits/kereliuk_sturm/*_filtered.txt       the fault-filtered split lists
    data/prepared/<dataset>/                        tables and arrays from ``... prepare``

The audio is looked for, in order: ``GENRELAB_AUDIO``; ``data/gtzan``; a GTZAN copy in
``../shared/data/gtzan`` beside the project (course staff and CI); the embedded sample set.

Held-out data. The labels of the ``test`` split never reach a student through the course's
tools: only the grader evaluates on ``test``. A *student view* of a prepared data set
(:func:`write_student_view`) holds every file of it without the test tracks, and ``prepare`` run in
a student release (:func:`is_student_release`: the project root holds ``STUDENT_RELEASE``) never
computes them. Either way ``dataset.json`` records ``"held_out": ["test"]``
(:func:`held_out_splits`, :func:`is_student_view`).
"""
import csv
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from genrelab import GENRES
from genrelab.features import FEATURE_COLUMNS

AUDIO_EXTENSIONS = ("au", "wav", "opus", "ogg", "flac", "mp3")
_CLIP_NAME = re.compile(rf"^({'|'.join(GENRES)})\.(\d{{5}})\.({'|'.join(AUDIO_EXTENSIONS)})$")


HELD_OUT = ("test",)
"""The splits a student never sees: only the grader evaluates on them."""

RELEASE_MARKER = "STUDENT_RELEASE"
"""The file at the root of a student release (``python -m data_scripts student-release``)."""


class DataNotFound(FileNotFoundError):
    """The audio or a prepared table is not where it should be; the message says what to run."""


def project_root():
    return Path(__file__).resolve().parents[1]


def is_student_release(root=None):
    """Whether the project at ``root`` (default: this one) is a student release: its root holds
    :data:`RELEASE_MARKER`. There, ``prepare`` leaves the :data:`HELD_OUT` splits out."""
    return (Path(root) if root else project_root()).joinpath(RELEASE_MARKER).is_file()


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


def segments_xy(kind, split, name=None):
    """``(X, y, track_ids)`` of one split of a prepared set's segment arrays (``kind``:
    ``mfcc`` or ``logmel``, :func:`load_segments`): ``X`` float32, integer genres, and each
    segment's track (a track's segments are scored together)."""
    arrays = load_segments(kind, name)
    keep = arrays["split"] == split
    return (arrays["X"][keep].astype(np.float32), arrays["y"][keep].astype(np.int64),
            arrays["track_id"][keep].astype(str))


def segments_digest(kind, name=None):
    """sha256 of a prepared set's segment arrays' contents (``X``, ``y``, ``track_id``): what a
    reference run on segments records, as ``table_sha256`` records the 30 s table. (The ``.npz``
    file's own bytes carry the time it was written.)"""
    import hashlib

    digest = hashlib.sha256()
    with np.load(_prepared_file(name, f"{kind}_segments.npz")) as f:
        for key in ("X", "y", "track_id"):
            digest.update(key.encode() + np.ascontiguousarray(f[key]).tobytes())
    return digest.hexdigest()


def held_out_splits(name=None):
    """The splits a prepared data set leaves out (``dataset.json``'s ``held_out``): ``("test",)``
    for a student view or a student release's ``prepare``, ``()`` for the full set."""
    return tuple(dataset_info(name).get("held_out", ()))


def is_student_view(name=None):
    """Whether a prepared data set is held out: a student view (:func:`write_student_view`) or
    what ``prepare`` made in a student release. Its tables, arrays and images have no test
    track, so ``xy(table, "test")`` is empty."""
    return bool(held_out_splits(name))


_TRACK_ID = re.compile(r"^([a-z]+\.\d{5})")
VIEW_FILES = ("dataset.json", "splits.csv", "problems.csv", "features_30_sec.csv",
              "features_3_sec.csv", "mfcc_segments.npz", "logmel_segments.npz", "images")
"""What a student view holds, each where the prepared set has it; nothing else (no ``cache/``,
nothing unknown) is copied into a view."""


def _track_of(text):
    m = _TRACK_ID.match(text)
    return m.group(1) if m else None


def _copy_csv_without(src, dst, tracks):
    """Copy a CSV whose first column names a track (``track_id`` or a ``filename`` such as
    ``blues.00000.3.wav``), leaving out the rows of ``tracks``; kept rows are copied byte for
    byte."""
    with open(src, newline="") as f_in, open(dst, "w", newline="") as f_out:
        lines = iter(f_in)
        f_out.write(next(lines, ""))  # the header
        for line in lines:
            first = next(csv.reader([line]), [""])
            if _track_of(first[0] if first else "") not in tracks:
                f_out.write(line)


def _copy_npz_without(src, dst, tracks):
    """Copy a segment archive without the examples of ``tracks`` (rows of every array as long as
    its ``track_id``)."""
    with np.load(src) as f:
        arrays = dict(f)
    if "track_id" not in arrays:
        raise ValueError(f"{src}: no track_id array, so its test examples cannot be told apart")
    keep = ~np.isin(arrays["track_id"], list(tracks))
    n = len(keep)
    np.savez(dst, **{k: (v[keep] if v.ndim and len(v) == n else v) for k, v in arrays.items()})


def _copy_images_without(src, dst, tracks):
    """Copy ``images/<genre>/<track_id>.png`` except the images of ``tracks``."""
    for path in sorted(src.rglob("*")):
        if path.is_file() and _track_of(path.name) not in tracks:
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def write_student_view(name=None, dest_root=None):
    """Write the student view of the prepared data set ``name`` (default: the course's, as
    :func:`prepared_dir` finds it) to ``dest_root/prepared/<name>/``; returns that folder.

    The view holds what a student may see: every file of :data:`VIEW_FILES` that the prepared
    set has, each without the rows, examples and images of the :data:`HELD_OUT` (test) tracks --
    no file of it names a test track -- and ``dataset.json`` with ``"held_out": ["test"]`` and
    without the test count in ``split_counts``. No ``cache/``. Use it as a data folder:
    ``GENRELAB_DATA_DIR=dest_root GENRELAB_DATASET=<name>``; ``xy(table, "test")`` is then empty.

    The view is built in a folder beside its place and moved there at the end, so it is whole or
    absent; an earlier view is replaced."""
    if dest_root is None:
        raise TypeError("write_student_view() needs dest_root: the data folder to write the view "
                        "into (it is written to dest_root/prepared/<name>/)")
    source = prepared_dir(name)
    name = source.name
    info = dataset_info(name)  # DataNotFound when it is not prepared
    splits = load_splits(name)
    held = set(splits.track_id[splits.split.isin(HELD_OUT)])
    target = Path(dest_root) / "prepared" / name
    if target.resolve() == source.resolve():
        raise ValueError(f"{target} is the prepared data set itself: write the view elsewhere")

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}.view-"))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp's folder is private
        for entry in VIEW_FILES:
            src, dst = source / entry, tmp / entry
            if entry == "images":
                if src.is_dir():
                    _copy_images_without(src, dst, held)
            elif not src.is_file() or entry == "dataset.json":
                continue
            elif src.suffix == ".csv":
                _copy_csv_without(src, dst, held)
            elif src.suffix == ".npz":
                _copy_npz_without(src, dst, held)
        counts = {k: v for k, v in info.get("split_counts", {}).items() if k not in HELD_OUT}
        view_info = {**info, "split_counts": counts,
                     "held_out": sorted(set(info.get("held_out", ())) | set(HELD_OUT))}
        (tmp / "dataset.json").write_text(json.dumps(view_info, indent=2) + "\n")
        replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def replace_folder(new, target):
    """Put the finished folder ``new`` at ``target`` (beside it, on the same filesystem),
    replacing what is there: a reader sees the old folder or the new one, never a mix; if the
    move fails, the old one is put back."""
    new, target = Path(new), Path(target)
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)  # a folder cannot be renamed onto a non-empty one
    try:
        os.replace(new, target)
    except OSError:
        if old.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_student_audio_view(name=None, dest_root=None):
    """The audio a student may hear, beside :func:`write_student_view`: the clips of the
    prepared data set ``name`` whose track is in no :data:`HELD_OUT` split, linked (or copied,
    across filesystems) into ``dest_root/audio/genres/<genre>/``, with the audio folder's
    ``SYNTHETIC`` marker and its ``manifest.csv`` rows of those clips only. Returns the folder to
    use as ``GENRELAB_AUDIO``; an earlier one is replaced."""
    if dest_root is None:
        raise TypeError("write_student_audio_view() needs dest_root")
    info = dataset_info(name)
    splits = load_splits(name)
    keep = set(splits.track_id[~splits.split.isin(HELD_OUT)])
    root = Path(info["audio_root"])
    if not root.is_absolute():
        root = project_root() / root
    if not any(_genre_dirs(root)):
        root = find_audio_root()
    target = Path(dest_root) / "audio"
    shutil.rmtree(target, ignore_errors=True)
    index = index_audio(root)
    for clip in index[index.track_id.isin(keep)].itertuples():
        dst = target / "genres" / clip.genre / Path(clip.path).name
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(clip.path, dst)
        except OSError:
            shutil.copyfile(clip.path, dst)
    target.mkdir(parents=True, exist_ok=True)
    if (root / "SYNTHETIC").is_file():
        shutil.copyfile(root / "SYNTHETIC", target / "SYNTHETIC")
    manifest = root / "manifest.csv"
    if manifest.is_file():
        rows = pd.read_csv(manifest)
        ids = rows.file.astype(str).str.extract(r"([a-z]+\.\d{5})\.\w+$", expand=False)
        rows[ids.isin(keep)].to_csv(target / "manifest.csv", index=False)
    return target
