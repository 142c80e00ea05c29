"""The one-STFT features equal librosa's per-feature calls (the naive loop the benchmark times)."""
import librosa
import numpy as np
import pytest

from data_scripts.benchmark import naive_table_row
from genrelab import SR, features
from helpers import tone_clip


@pytest.fixture(scope="module")
def clip():
    return tone_clip(seconds=6.5)


def test_columns_are_kaggles_57():
    assert len(features.FEATURE_COLUMNS) == 57
    assert features.FEATURE_COLUMNS[:2] == ["chroma_stft_mean", "chroma_stft_var"]
    assert features.FEATURE_COLUMNS[16] == "tempo" and features.FEATURE_COLUMNS[-1] == "mfcc20_var"


def test_segments_are_3_seconds_and_drop_the_rest(clip):
    seg = features.segments(clip)
    assert seg.shape == (2, 66150)
    np.testing.assert_array_equal(seg[1], clip[66150:132300])
    with pytest.raises(ValueError, match="shorter than one 3 s segment"):
        features.segments(clip[:1000])


def test_table_features_equal_per_feature_librosa(clip):
    ours = features.table_features(clip)
    naive = np.array(naive_table_row(clip))
    np.testing.assert_allclose(ours, naive, rtol=2e-4, atol=1e-7)


def test_batched_segments_equal_one_at_a_time(clip):
    reps = features.clip_representations(clip)
    for k, seg in enumerate(features.segments(clip)):
        np.testing.assert_allclose(reps["features_3s"][k], naive_table_row(seg),
                                   rtol=2e-4, atol=1e-7)
        seed_mfcc = librosa.feature.mfcc(y=seg, sr=SR, n_mfcc=13, n_fft=2048, hop_length=512).T
        np.testing.assert_allclose(reps["mfcc"][k], seed_mfcc, rtol=1e-4, atol=1e-3)
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=seg, sr=SR))
        np.testing.assert_allclose(reps["logmel"][k], mel, atol=1e-3)


def test_representation_shapes(clip):
    reps = features.clip_representations(clip)
    assert reps["features_30s"].shape == (57,)
    assert reps["features_3s"].shape == (2, 57)
    assert reps["mfcc"].shape == (2, 130, 13)
    assert reps["logmel"].shape == (2, 128, 130)
    assert reps["logmel_30s"].shape[0] == 128


def test_hpss_equals_librosa(clip):
    y_harm, y_perc = features.hpss(features.stft(clip), clip.size)
    ref_harm, ref_perc = librosa.effects.hpss(clip)
    np.testing.assert_allclose(y_harm, ref_harm, atol=1e-5 * np.abs(ref_harm).max())
    np.testing.assert_allclose(y_perc, ref_perc, atol=1e-5 * np.abs(ref_perc).max())
