"""Splits keep every track (and so all its segments) on one side."""
import numpy as np
import pandas as pd
import pytest

from genrelab import GENRES, splits


def test_by_track_is_stratified_seeded_and_complete():
    ids = [f"{g}.{i:05d}" for g in GENRES for i in range(20)]
    genres = [i.split(".")[0] for i in ids]
    a = splits.by_track(ids, genres, seed=1)
    assert (a == splits.by_track(ids, genres, seed=1)).all()
    assert (a != splits.by_track(ids, genres, seed=2)).any()
    counts = pd.crosstab(np.array(genres), a)
    assert (counts["test"] == 4).all() and (counts["valid"] == 4).all() and (counts["train"] == 12).all()


def test_fault_filtered_lists_are_read_and_unlisted_tracks_excluded(tmp_path):
    for split, names in {"train": ["blues/blues.00029.wav"], "valid": ["jazz/jazz.00001.wav"],
                         "test": ["rock/rock.00003.wav", "pop/pop.00004.wav"]}.items():
        (tmp_path / f"{split}_filtered.txt").write_text("\n".join(names) + "\n")
    got = splits.fault_filtered(["blues.00029", "pop.00004", "disco.00000"], tmp_path)
    assert list(got) == ["train", "test", "excluded"]


def test_segments_inherit_their_tracks_split(tmp_path, monkeypatch):
    """What the chapters load -- ``dataset.load_table("3s")`` and ``dataset.load_segments`` of a
    prepared folder -- gives every 3 s segment the split that ``splits.csv`` gives its track,
    whatever the order of the rows (segment file names like ``pop.00001.3.wav`` must not be
    confused with tracks like ``pop.00013``)."""
    from genrelab import dataset
    from genrelab.features import FEATURE_COLUMNS

    ids = [f"{g}.{i:05d}" for g in ("pop", "rock") for i in (1, 3, 10, 13, 31, 100, 130)]
    genres = [i.split(".")[0] for i in ids]
    track_split = pd.Series(splits.by_track(ids, genres, seed=3), index=ids)
    assert set(track_split) == {"train", "valid", "test"}
    folder = tmp_path / "prepared" / "toy"
    folder.mkdir(parents=True)
    pd.DataFrame({"track_id": ids, "genre": genres, "split": track_split.to_numpy()}).to_csv(
        folder / "splits.csv", index=False)
    rng = np.random.default_rng(0)
    segments = [(t, k) for t in ids for k in range(10)]
    order = rng.permutation(len(segments))  # rows in no particular order
    seg_tracks = np.array([segments[i][0] for i in order])
    seg_numbers = np.array([segments[i][1] for i in order])
    rows = pd.DataFrame(rng.normal(size=(len(order), len(FEATURE_COLUMNS))),
                        columns=FEATURE_COLUMNS)
    rows.insert(0, "length", 66149)
    rows.insert(0, "filename", [f"{t}.{k}.wav" for t, k in zip(seg_tracks, seg_numbers)])
    rows["label"] = [t.split(".")[0] for t in seg_tracks]
    rows.to_csv(folder / "features_3_sec.csv", index=False)
    np.savez(folder / "mfcc_segments.npz", X=np.zeros((len(order), 130, 13), np.float32),
             y=np.zeros(len(order), int), track_id=seg_tracks, segment=seg_numbers)
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(tmp_path))

    table = dataset.load_table("3s", name="toy")
    assert len(table) == len(order) and sorted(table.filename) == sorted(rows.filename)
    assert (table.track_id == table.filename.str.rsplit(".", n=2).str[0]).all()
    assert (table.split.to_numpy() == track_split.reindex(table.track_id).to_numpy()).all()
    assert (table.groupby("track_id").split.nunique() == 1).all()
    arrays = dataset.load_segments("mfcc", name="toy")
    assert (arrays["track_id"] == seg_tracks).all()
    assert (arrays["split"] == track_split.reindex(seg_tracks).to_numpy()).all()


def test_leaky_split_does_mix_a_tracks_segments():
    seg = splits.leaky_by_segment(1000, seed=0)
    per_track = pd.Series(seg).groupby(np.repeat(np.arange(100), 10)).nunique()
    assert (per_track > 1).mean() > 0.9


def test_real_fault_filtered_split_counts(real_gtzan):
    folder = real_gtzan / "reference" / "splits_kereliuk_sturm_filtered"
    lists = splits.read_lists(folder)
    assert lists.value_counts().to_dict() == {"train": 443, "test": 290, "valid": 197}
    assert not lists.index.duplicated().any()
