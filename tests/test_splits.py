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


def test_segments_inherit_their_tracks_split():
    track_split = pd.Series(splits.by_track([f"pop.{i:05d}" for i in range(10)], ["pop"] * 10))
    seg_tracks = np.repeat(np.arange(10), 10)
    seg_split = track_split.to_numpy()[seg_tracks]
    for t in range(10):
        assert len(set(seg_split[seg_tracks == t])) == 1


def test_leaky_split_does_mix_a_tracks_segments():
    seg = splits.leaky_by_segment(1000, seed=0)
    per_track = pd.Series(seg).groupby(np.repeat(np.arange(100), 10)).nunique()
    assert (per_track > 1).mean() > 0.9


def test_real_fault_filtered_split_counts(real_gtzan):
    folder = real_gtzan / "reference" / "splits_kereliuk_sturm_filtered"
    lists = splits.read_lists(folder)
    assert lists.value_counts().to_dict() == {"train": 443, "test": 290, "valid": 197}
    assert not lists.index.duplicated().any()
