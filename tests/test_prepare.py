"""prepare: Kaggle's columns, cached re-runs, bad clips reported by name, honest splits."""
import concurrent.futures
import json
import sys
from pathlib import Path

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
    recorded = pd.read_csv(prepared / "splits.csv").set_index("track_id").split
    track_of_file = seg.filename.str.split(".").str[:2].str.join(".")  # rock.00002.7.wav
    assert len(seg) == 60
    assert (seg.split.to_numpy() == recorded.reindex(track_of_file).to_numpy()).all()
    assert set(seg.split) <= {"train", "valid", "test", "excluded"} and "train" in set(seg.split)
    arrays = dataset.load_segments("mfcc", name=prepared.name)
    by_track = seg.drop_duplicates("track_id").set_index("track_id").split
    assert (arrays["split"] == by_track.reindex(arrays["track_id"]).to_numpy()).all()


def test_rerun_uses_the_cache(audio_root, prepared):
    cached = {p: p.stat().st_mtime_ns for p in (prepared / "cache").rglob("*.npz")}
    assert len(cached) == 30  # one per clip prepared
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


class _Recording(concurrent.futures.ProcessPoolExecutor):
    """A process pool that records the start method it was given."""
    contexts = []

    def __init__(self, *args, mp_context=None, **kwargs):
        self.contexts.append(mp_context.get_start_method() if mp_context else "default")
        super().__init__(*args, mp_context=mp_context, **kwargs)


@pytest.fixture(scope="module")
def forked(tmp_path_factory):
    """A small sample set, and its preparation where none of the fork-unsafe libraries is
    imported: ``(audio, output folder, start method used)``."""
    import data_scripts.prepare as module
    from data_scripts.synthetic import make_synthetic

    tmp = tmp_path_factory.mktemp("forked")
    audio = make_synthetic(tmp / "audio", clips_per_genre=1, duration=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "ProcessPoolExecutor", _Recording)
        for name in module.FORK_UNSAFE_MODULES:
            mp.delitem(sys.modules, name, raising=False)
        _Recording.contexts.clear()
        out = module.prepare(audio, tmp / "prepared", workers=2, progress=False)
        return audio, out, _Recording.contexts[:]


@pytest.mark.parametrize("library", ["jax", "torch", "tensorflow"])
def test_prepare_spawns_fresh_workers_where_tensorflow_is_loaded(library, forked, tmp_path,
                                                                monkeypatch):
    """A notebook or a test session that trained a Keras model (on any of its backends) can
    still prepare data: its workers must not inherit TensorFlow's, JAX's or PyTorch's state by
    fork (a forked worker aborts when it garbage-collects a TensorFlow function, as seen in CI),
    so they are spawned fresh where one of them is imported, and forked otherwise."""
    import data_scripts.prepare as module

    audio, forked_out, forked_contexts = forked
    assert len(forked_contexts) == 1 and forked_contexts[0] != "spawn"  # the platform's default
    monkeypatch.setattr(module, "ProcessPoolExecutor", _Recording)
    for name in module.FORK_UNSAFE_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, library, object())
    _Recording.contexts.clear()
    out = module.prepare(audio, tmp_path / "spawned", workers=2, progress=False)
    assert _Recording.contexts == ["spawn"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "features_30_sec.csv"),
                                  pd.read_csv(forked_out / "features_30_sec.csv"))


def test_a_change_to_the_feature_code_changes_the_cache_key(audio_root, monkeypatch):
    """The cache key covers the code that computes a clip's cache file -- genrelab/features.py,
    genrelab/audio.py and prepare's per-clip functions -- so that changed code never reuses a
    stale cache; unchanged code gives the same key every time."""
    import data_scripts.prepare as module

    index = dataset.index_audio(audio_root)
    key = module.cache_key(module.settings_for(index))
    assert module.cache_key(module.settings_for(index)) == key
    source = module._source
    for changed in (features, module.audio, module._process, module._save_image):
        monkeypatch.setattr(module, "_source", lambda obj, changed=changed: source(obj) + (
            "\n# one more line\n" if obj is changed else ""))
        assert module.cache_key(module.settings_for(index)) != key, f"{changed.__name__} changed"
    monkeypatch.setattr(module, "_source", source)
    assert module.cache_key(module.settings_for(index)) == key
    assert module.settings_for(index, bandlimit=4000)["code_sha256"] == module.code_digest()


def test_the_code_digest_does_not_depend_on_where_the_project_lies(tmp_path):
    """The same code in another folder (another clone, a CI checkout) gives the same digest, so
    the cache stays valid there; a changed feature module in that copy gives another."""
    import shutil
    import subprocess

    import data_scripts.prepare as module

    root = Path(module.__file__).resolve().parents[1]
    for package in ("genrelab", "data_scripts"):
        shutil.copytree(root / package, tmp_path / "copy" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    probe = [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, '.'); "
             "from data_scripts.prepare import code_digest; print(code_digest())"]
    here = module.code_digest()
    copied = subprocess.run(probe, cwd=tmp_path / "copy", capture_output=True, text=True)
    assert copied.returncode == 0, copied.stderr
    assert copied.stdout.strip() == here
    with open(tmp_path / "copy" / "genrelab" / "features.py", "a") as f:
        f.write("\n# a change\n")
    changed = subprocess.run(probe, cwd=tmp_path / "copy", capture_output=True, text=True)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() != here


def test_prepare_computes_again_after_a_change_to_the_feature_code(tmp_path, monkeypatch):
    """End to end: after a change to the feature code, prepare computes the clip again (into a
    new cache folder) instead of assembling its tables from the old cache."""
    import data_scripts.prepare as module

    write_clip(tmp_path / "genres" / "rock" / "rock.00000.wav", tone_clip(3.5, f0=300))
    out = tmp_path / "prepared"
    module.prepare(tmp_path, out, workers=1, progress=False)
    source = module._source
    monkeypatch.setattr(module, "_source", lambda obj: source(obj) + (
        "\n# changed\n" if obj is features else ""))
    module.prepare(tmp_path, out, workers=1, progress=False)
    folders = sorted(p for p in (out / "cache").iterdir() if p.is_dir())
    assert len(folders) == 2 and all(len(list(f.glob("*.npz"))) == 1 for f in folders)
