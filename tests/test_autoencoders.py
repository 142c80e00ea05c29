"""Chapter 7's library (``genrelab.autoencoders``) and the grader's side of exercise 7: the
measures the book derives equal the library's, the autoencoders take and give raw dB segments
through a code of the stated width, the variational bottleneck saves and loads in safe mode, and
the grader refuses an autoencoder with a path around its code and scores the reconstruction
(lower is better) from the encoder and decoder alone."""
import json

import numpy as np
import pytest

from genrelab import autoencoders as ae
from genrelab.crnn import MEL_SHAPE


def lsd_step_by_step(db, db_hat):
    """The book's derivation: for each frame, the root mean square over bands of the dB
    difference; then the mean over the frames."""
    frames = []
    for t in range(db.shape[1]):
        diff = db[:, t] - db_hat[:, t]
        frames.append(np.sqrt(np.mean(diff ** 2)))
    return float(np.mean(frames))


def test_log_spectral_distance_is_the_books_derivation():
    rng = np.random.default_rng(0)
    db = rng.normal(-30, 15, size=(3, 16, 20))
    noisy = db + rng.normal(0, 4, size=db.shape)
    ours = ae.log_spectral_distance(db, noisy)
    assert ours.shape == (3,)
    assert np.allclose(ours, [lsd_step_by_step(a, b) for a, b in zip(db, noisy)])
    assert ae.log_spectral_distance(db, db + 6.0) == pytest.approx([6.0] * 3)  # 6 dB everywhere
    assert np.allclose(ae.log_spectral_distance(db, db), 0)


def test_spectral_convergence_is_zero_for_a_perfect_copy_and_one_for_silence():
    S = np.abs(np.random.default_rng(1).normal(size=(2, 8, 9)))
    assert np.allclose(ae.spectral_convergence(S, S), 0)
    assert np.allclose(ae.spectral_convergence(S, np.zeros_like(S)), 1)
    assert ae.spectral_convergence(S, 0.5 * S) == pytest.approx([0.5, 0.5])


def test_a_tracks_segments_are_averaged_and_the_mean_spectrum_is_the_baseline():
    db = np.zeros((4, 2, 3))
    rebuilt = db + np.array([1.0, 3.0, 5.0, 5.0])[:, None, None]
    ids, per_track = ae.track_lsd(db, rebuilt, ["b", "a", "b", "a"])
    assert list(ids) == ["a", "b"] and per_track == pytest.approx([4.0, 3.0])
    mean, low, high = ae.mean_interval(per_track)
    assert low < mean < high and mean == pytest.approx(3.5)
    train = np.stack([np.full((2, 3), -10.0), np.full((2, 3), -30.0)])  # mean spectrum: -20 dB
    _, base = ae.mean_spectrum_lsd(train, np.full((2, 2, 3), -26.0), ["x", "y"])
    assert base == pytest.approx([6.0, 6.0])


@pytest.fixture(scope="module")
def segments_db():
    rng = np.random.default_rng(2)
    return (rng.normal(size=(32, *MEL_SHAPE)) * 15 - 30).astype(np.float32)


def test_the_conv_autoencoder_takes_and_gives_raw_db_segments_through_its_code(segments_db):
    from autograder.exercises import get

    model = ae.conv_autoencoder(segments_db, code=16)
    enc, dec = model.get_layer("encoder"), model.get_layer("decoder")
    assert model.input_shape == (None, *MEL_SHAPE) and model.output_shape == (None, *MEL_SHAPE)
    assert enc.output_shape == (None, 16) and dec.input_shape == (None, 16)
    assert get("autoencoder").structure_problems(model) == []
    norm = enc.get_layer("encoder_standardize")
    assert np.ravel(norm.mean)[0] == pytest.approx(segments_db.mean(), abs=1.0)
    out = ae.reconstruct(model, segments_db[:4])
    # untrained, the decoder's output is near the training mean in dB (-30), not near 0 (the
    # standardized units it works in)
    assert abs(out.mean() - segments_db.mean()) < 10 and abs(out.mean()) > 15
    assert ae.codes(model, segments_db[:4]).shape == (4, 16)
    assert np.allclose(out, np.asarray(dec(enc(segments_db[:4]))), atol=1e-3)


def test_the_mfcc_autoencoder_rebuilds_frames_of_13_coefficients():
    frames = np.random.default_rng(3).normal(size=(64, 13)).astype(np.float32) * [50] + 5
    model = ae.mfcc_autoencoder(frames, code=4)
    assert model.output_shape == (None, 13) and model.get_layer("code").units == 4


def test_the_variational_bottleneck_adds_its_kl_term_and_loads_in_safe_mode(segments_db,
                                                                            tmp_path):
    import keras

    model, dec = ae.variational_autoencoder(segments_db, code=8, beta=1.0)
    model.fit(segments_db, segments_db, epochs=1, batch_size=16, verbose=0)
    model(segments_db[:4], training=True)
    assert len(model.losses) >= 1 and float(np.asarray(model.losses[0])) >= 0
    a = np.asarray(model(segments_db[:2], training=False))
    assert np.allclose(a, np.asarray(model(segments_db[:2], training=False)))  # the mean: fixed
    path = tmp_path / "vae.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    assert np.allclose(np.asarray(again(segments_db[:2], training=False)), a, atol=1e-4)
    sampled = np.asarray(dec(np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)))
    assert sampled.shape == (3, *MEL_SHAPE) and np.all(np.isfinite(sampled))


def test_the_grader_refuses_a_path_around_the_code_and_a_code_too_wide(segments_db):
    import keras

    from autograder.exercises import get

    exercise = get("autoencoder")
    wide = ae.conv_autoencoder(segments_db, code=exercise.max_code + 1)
    assert any("at most 64" in p for p in exercise.structure_problems(wide))
    ok = ae.conv_autoencoder(segments_db, code=8)
    enc, dec = ok.get_layer("encoder"), ok.get_layer("decoder")
    x = keras.Input(MEL_SHAPE)
    around = keras.Model(x, keras.layers.Add()([dec(enc(x)), x]))  # the input added back
    assert any("decoder(encoder(x))" in p for p in exercise.structure_problems(around))
    plain = keras.Sequential([keras.Input(MEL_SHAPE), keras.layers.Reshape((128, 130))])
    assert any("named 'encoder' and 'decoder'" in p for p in exercise.structure_problems(plain))
    # the same weights in encoder and decoder: a channel besides the code
    shared = keras.layers.Dense(130)
    e = keras.Sequential([keras.Input(MEL_SHAPE), shared, keras.layers.Flatten(),
                          keras.layers.Dense(8)], name="encoder")
    d = keras.Sequential([keras.Input((8,)), keras.layers.Dense(128 * 130),
                          keras.layers.Reshape(MEL_SHAPE), shared], name="decoder")
    z = keras.Input(MEL_SHAPE)
    assert any("share" in p for p in exercise.structure_problems(keras.Model(z, d(e(z)))))
    # nested under other names, or with a code that is not flat
    image = keras.Sequential([keras.Input(MEL_SHAPE), keras.layers.Reshape((*MEL_SHAPE, 1))],
                             name="encoder")
    back = keras.Sequential([keras.Input((*MEL_SHAPE, 1)), keras.layers.Reshape(MEL_SHAPE)],
                            name="decoder")
    y = keras.Input(MEL_SHAPE)
    unflat = keras.Model(y, back(image(y)))
    assert any("one flat code" in p for p in exercise.structure_problems(unflat))


def test_the_grader_scores_the_reconstruction_from_encoder_and_decoder(segments_db,
                                                                       synthetic_env, tmp_path,
                                                                       monkeypatch):
    """The evaluator, in its own process, measures decoder(encoder(x)) on the test segments:
    a trained-for-one-epoch model gets a finite LSD, its interval and a score on the error
    rule (full at or below the threshold, none at or above chance)."""
    from autograder import evaluate

    X, _, _ = ae.segments("train")
    model = ae.conv_autoencoder(X, code=16)
    ae.fit(model, X[:200], X[200:260], epochs=1)
    folder = tmp_path / "autoencoder"
    folder.mkdir()
    model.save(folder / "model.keras")
    limits = {"threshold": 5.0, "chance": 12.0, "rule": "test rule", "provenance": "test"}
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"autoencoder": {"synthetic": limits}}))
    monkeypatch.setenv("GENRELAB_THRESHOLDS", str(thresholds))
    result = evaluate.evaluate_submission("autoencoder", folder, "synthetic")
    assert result.status == "ok", result.message
    assert result.low < result.lsd < result.high and result.n > 0 and result.accuracy is None
    expected = 10 * min(1, max(0, (12.0 - result.lsd) / (12.0 - 5.0)))
    assert result.score == pytest.approx(expected, abs=0.01)
    assert "log-spectral distance" in result.message and "lower is better" in result.message
    verdict = "at or below the threshold" if result.lsd <= 5.0 else "above the threshold"
    assert result.message.endswith(f"{verdict} 5.00 dB.") and result.message in result.report()


def test_mel_inversion_gives_audio_and_the_ceiling_its_mel(segments_db):
    audio, again = ae.griffin_lim_ceiling(segments_db[0], n_iter=2)
    assert audio.ndim == 1 and np.all(np.isfinite(audio))
    assert again.shape == MEL_SHAPE
    coefficients = np.random.default_rng(0).normal(size=(13, 20)).astype(np.float32)
    assert ae.mfcc_to_audio(coefficients, n_iter=2).ndim == 1


def test_training_curves_of_a_model_without_accuracy_show_its_loss():
    """Exercise 7's notebook plots an autoencoder's history: loss, and no accuracy to plot."""
    import matplotlib

    matplotlib.use("Agg")
    from genrelab import plots

    axes = plots.history({"loss": [3.0, 2.0], "val_loss": [3.5, 2.5]})
    assert len(axes) == 1 and axes[0].get_ylabel() == "loss"
    both = plots.history({"loss": [1, 0.5], "val_loss": [1, 0.7], "accuracy": [0.2, 0.5],
                          "val_accuracy": [0.2, 0.4]})
    assert [a.get_ylabel() for a in both] == ["loss", "accuracy"]
