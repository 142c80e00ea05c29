"""Reporting results honestly. Derived in *Honest evaluation* (``book/evaluation.ipynb``).

An accuracy on 290 test tracks is an estimate: :func:`accuracy_interval` gives its 95% (Wilson)
interval; :func:`seeds_interval` gives the interval of a mean over training seeds;
:func:`noise_aware_threshold` the grading threshold that a test set of a given size allows; and
:func:`song_level` turns per-segment predictions into one prediction per song, and
:func:`track_level` into one genre and one prediction per track.
"""
import numpy as np
import pandas as pd


def wilson_interval(p, n, level=0.95):
    """``(p, low, high)``: the Wilson score interval of a proportion ``p`` measured on ``n``
    examples. It says how well ``n`` test examples pin an accuracy down, not where a repeated
    experiment would land."""
    from scipy.stats import norm

    if n <= 0:
        raise ValueError("no predictions to score")
    p = float(p)
    z = norm.ppf(0.5 + level / 2)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def accuracy_interval(y_true, y_pred, level=0.95):
    """``(accuracy, low, high)``: the accuracy and its Wilson score interval
    (:func:`wilson_interval`)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        raise ValueError("no predictions to score")
    return wilson_interval(np.mean(y_true == y_pred), y_true.size, level)


def noise_aware_threshold(reference, n, level=0.95):
    """The lowest accuracy on ``n`` test tracks that the test set cannot tell apart from the
    ``reference`` accuracy: the smallest ``k / n`` whose Wilson interval (:func:`wilson_interval`)
    still reaches ``reference``. A model at or above it is not significantly worse than the
    reference on these tracks, so it loses no points to the noise of a small test set."""
    if n <= 0:
        raise ValueError("no test tracks")
    for k in range(n + 1):
        if wilson_interval(k / n, n, level)[2] >= reference:
            return k / n
    return 1.0


def seeds_interval(values, level=0.95):
    """``(mean, low, high)``: Student-t interval of the mean of per-seed results."""
    from scipy.stats import t

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean, mean
    half = t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return mean, mean - half, mean + half


def song_level(probs, track_ids):
    """Average the class probabilities of each song's segments: ``(track_ids, probs)``."""
    frame = pd.DataFrame(np.asarray(probs)).groupby(np.asarray(track_ids), sort=True).mean()
    return frame.index.to_numpy(), frame.to_numpy()


def track_level(probs, y, track_ids):
    """``(track_ids, y_track, pred_track)``: one true genre and one prediction per track, the
    mean of its segments' probabilities (:func:`song_level`) deciding. A table with one row per
    track gives its rows back, sorted by track."""
    ids, track_probs = song_level(probs, track_ids)
    truth = pd.Series(np.asarray(y), index=np.asarray(track_ids)).groupby(level=0).first()
    return ids, truth.loc[ids].to_numpy(), track_probs.argmax(axis=1)
