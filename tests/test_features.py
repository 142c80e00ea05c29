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


@pytest.mark.parametrize("shape, axis", [((1025, 140), -1), ((1025, 140), -2), ((3, 70, 45), 0),
                                         ((3, 70, 45), 1), ((2, 5), -1), ((40, 3), -2)])
def test_sliding_median_equals_scipy(shape, axis):
    """The HPSS median kernel gives exactly the median filter with reflected edges -- scipy's
    ``median_filter(mode='reflect')``, as librosa's HPSS uses it -- with ties, windows longer
    than the axis and row counts that do not fill its lanes."""
    from scipy.ndimage import median_filter

    rng = np.random.default_rng(sum(shape))
    x = np.abs(rng.standard_normal(shape)).astype(np.float32)
    x[..., :3] = 0.0                               # ties at zero, as in silent frames
    x.flat[::7] = np.round(x.flat[::7], 1)         # and elsewhere
    k, half = features.HPSS_KERNEL, features.HPSS_KERNEL // 2
    got = features._median(x, k, axis)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (half, half)
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, pad, mode="symmetric"), k, axis)
    assert np.array_equal(got, np.median(windows, axis=-1))
    if x.shape[axis] >= k:  # (scipy 1.17 returns NaN where the window is longer than the axis)
        size = [1] * x.ndim
        size[axis] = k
        assert np.array_equal(got, median_filter(x, size=tuple(size), mode="reflect"))


def test_rolloff_and_zero_crossing_rate_equal_librosa(clip):
    """The two re-derived per-frame features give librosa's values, silence included."""
    y = np.concatenate([clip[: SR * 2], np.zeros(SR // 2, np.float32), clip[-SR:]])
    y[100:110] = 1e-12  # below librosa's zero threshold: counted as zero
    batch = np.stack([y, -y])
    for signal in (y, batch):
        mag = np.abs(features.stft(signal))
        np.testing.assert_array_equal(features._rolloff(mag, SR),
                                      librosa.feature.spectral_rolloff(S=mag, sr=SR))
        np.testing.assert_allclose(features._zero_crossing_rate(signal),
                                   librosa.feature.zero_crossing_rate(signal), rtol=0, atol=1e-15)
