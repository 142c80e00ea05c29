import numpy as np
import pytest

from genrelab import evaluation


def test_wilson_interval_matches_the_textbook_value():
    # 55 right out of 100: Wilson 95% interval [0.4524, 0.6438]
    acc, low, high = evaluation.accuracy_interval(np.ones(100), np.r_[np.ones(55), np.zeros(45)])
    assert acc == 0.55
    assert (low, high) == pytest.approx((0.4524, 0.6438), abs=1e-4)


def test_interval_stays_inside_0_1_and_rejects_empty():
    assert evaluation.accuracy_interval([1, 2], [1, 2])[2] == 1.0
    with pytest.raises(ValueError):
        evaluation.accuracy_interval([], [])


def test_seeds_interval_uses_student_t():
    mean, low, high = evaluation.seeds_interval([0.50, 0.52, 0.54, 0.56, 0.58])
    assert mean == pytest.approx(0.54)
    # t(0.975, 4) = 2.776; sd = 0.0316; half-width = 2.776 * 0.0316 / sqrt(5) = 0.0393
    assert high - mean == pytest.approx(0.0393, abs=1e-4)


def test_song_level_averages_segment_probabilities():
    probs = [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.0, 1.0]]
    ids, song = evaluation.song_level(probs, ["b", "a", "a", "b"])
    assert list(ids) == ["a", "b"]
    np.testing.assert_allclose(song, [[0.3, 0.7], [0.45, 0.55]])
