"""prepare: Kaggle's columns, cached re-runs, bad clips reported by name, honest splits."""
import json
import sys

import numpy as np
import pandas as pd
import pytest

from data_scripts.prepare import prepare
from genrelab import GENRES, dataset, features
from helpers import tone_clip, write_clip


@pytest.fixture(scope="module")
def audio_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    for g, genre in enumerate(GENRES):
        for i in range(3):
            write_clip(root / "genres" / genre / f"{genre}.{i:05d}.wav",
                       tone_clip(seconds=6.2, f0=110 * (1 + g / 3), seed=i))
    (root / "genres" / "jazz" / "jazz.00054.wav").write_bytes(b"corrupt, as in Kaggle's copy")
    return root


@pytest.fixture(scope="module")
def prepared(audio_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "prepared" / "testset"
    return prepare(audio_root, out, workers=2, progress=False)


def test_tables_have_kaggles_columns(prepared):
    for name, rows in (("features_30_sec.csv", 30), ("features_3_sec.csv", 60)):
        table = pd.read_csv(prepared / name)
        assert list(table.columns) == ["filename", "length", *features.FEATURE_COLUMNS, "label"]
        assert len(table) == rows and table[features.FEATURE_COLUMNS].notna().all().all()
    assert pd.read_csv(prepared / "features_3_sec.csv").filename[1] == "blues.00000.1.wav"


def test_corrupt_clip_is_reported_by_name_and_left_out(prepared):
    problems = pd.read_csv(prepared / "problems.csv")
    assert list(problems.track_id) == ["jazz.00054"]
    assert "jazz.00054.wav: cannot be decoded" in problems.problem[0]
    info = json.loads((prepared / "dataset.json").read_text())
    assert info["clips_found"] == 31 and info["clips_prepared"] == 30


def test_segment_arrays_and_images(prepared):
    with np.load(prepared / "mfcc_segments.npz") as f:
        assert f["X"].shape == (60, 130, 13) and len(set(f["track_id"])) == 30
    with np.load(prepared / "logmel_segments.npz") as f:
        assert f["X"].shape == (60, 128, 130)
    assert len(list((prepared / "images").glob("*/*.png"))) == 30


def test_every_tracks_segments_share_its_split(prepared, monkeypatch):
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(prepared.parent.parent))
    seg = dataset.load_table("3s", name=prepared.name)
    assert (seg.groupby("track_id").split.nunique() == 1).all()
    assert set(seg.split) <= {"train", "valid", "test", "excluded"} and "train" in set(seg.split)
    arrays = dataset.load_segments("mfcc", name=prepared.name)
    by_track = seg.drop_duplicates("track_id").set_index("track_id").split
    assert (arrays["split"] == by_track.reindex(arrays["track_id"]).to_numpy()).all()


def test_rerun_uses_the_cache(audio_root, prepared):
    cached = {p: p.stat().st_mtime_ns for p in (prepared / "cache").rglob("*.npz")}
    prepare(audio_root, prepared, workers=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in (prepared / "cache").rglob("*.npz")} == cached


def test_no_readable_clip_is_a_clear_error(tmp_path):
    (tmp_path / "genres" / "pop").mkdir(parents=True)
    (tmp_path / "genres" / "pop" / "pop.00000.wav").write_bytes(b"nothing")
    with pytest.raises(RuntimeError, match="none of the 1 clips could be read"):
        prepare(tmp_path, tmp_path / "out", workers=1, progress=False)


def test_a_replaced_clip_is_computed_again(tmp_path):
    path = write_clip(tmp_path / "genres" / "rock" / "rock.00000.wav", tone_clip(3.5, f0=200))
    out = tmp_path / "prepared"
    before = pd.read_csv(prepare(tmp_path, out, workers=1, progress=False) / "features_30_sec.csv")
    write_clip(path, tone_clip(3.5, f0=900, seed=5))
    after = pd.read_csv(prepare(tmp_path, out, workers=1, progress=False) / "features_30_sec.csv")
    assert after.spectral_centroid_mean[0] > before.spectral_centroid_mean[0]


def test_prepare_spawns_fresh_workers_where_tensorflow_is_loaded(tmp_path, monkeypatch):
    """A notebook or a test session that trained a Keras model can still prepare data: its
    workers must not inherit TensorFlow's state by fork (a forked worker aborts when it
    garbage-collects a TensorFlow function, as seen in CI), so they are spawned fresh."""
    import concurrent.futures

    import data_scripts.prepare as module
    from data_scripts.synthetic import make_synthetic

    contexts = []

    class Recording(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, mp_context=None, **kwargs):
            contexts.append(mp_context.get_start_method() if mp_context else "default")
            super().__init__(*args, mp_context=mp_context, **kwargs)

    monkeypatch.setattr(module, "ProcessPoolExecutor", Recording)
    audio = make_synthetic(tmp_path / "audio", clips_per_genre=1, duration=4)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    module.prepare(audio, tmp_path / "forked", workers=2, progress=False)
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    out = module.prepare(audio, tmp_path / "spawned", workers=2, progress=False)
    assert contexts[0] != "spawn" and contexts[1] == "spawn"
    spawned = pd.read_csv(out / "features_30_sec.csv")
    forked = pd.read_csv(tmp_path / "forked" / "features_30_sec.csv")
    pd.testing.assert_frame_equal(spawned, forked)
