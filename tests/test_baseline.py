"""The chapter 2 baseline (``genrelab.baseline``): a logistic regression on the raw 57 features
that standardizes inside itself, learns a separable problem, stops early on the validation loss
keeping its best weights, and survives a safe-mode reload (as the autograder loads a
``features`` submission)."""
import numpy as np

from genrelab import GENRES
from genrelab.features import FEATURE_COLUMNS


def separable(n_per_genre, seed):
    """Raw-scale features (means in the thousands, variances spanning magnitudes) where genre
    ``g`` multiplies feature ``g`` by 1000."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(GENRES)), n_per_genre)
    X = rng.lognormal(mean=2.0, sigma=0.5, size=(len(y), len(FEATURE_COLUMNS))) * 100
    X[np.arange(len(y)), y] *= 1000
    return X.astype(np.float32), y


def test_logistic_regression_is_one_softmax_layer_on_standardized_log_variances(tmp_path):
    import keras

    from genrelab import baseline, mlp

    keras.utils.set_random_seed(0)
    (X, y), valid, test = separable(20, 0), separable(5, 1), separable(5, 2)
    model = baseline.logistic_regression(X)
    dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
    assert len(dense) == 1 and dense[0].units == len(GENRES)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 57 * 10 + 10
    assert any(isinstance(l, mlp.LogCompress) for l in model.layers)
    norm = next(l for l in model.layers if isinstance(l, keras.layers.Normalization))
    logged = np.asarray(model.layers[0](X))
    assert np.allclose(np.ravel(norm.mean), logged.mean(axis=0), rtol=1e-3, atol=1e-3)

    baseline.fit(model, (X, y), valid, epochs=200, patience=20)
    probs = np.asarray(model(test[0], training=False))
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert (probs.argmax(axis=1) == test[1]).mean() >= 0.9

    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True, compile=False)
    assert np.allclose(np.asarray(reloaded(test[0], training=False)), probs, atol=1e-5)


def test_fit_stops_early_on_the_validation_loss_and_keeps_the_best_weights():
    """``fit`` hands Keras an EarlyStopping on ``val_loss`` that keeps the best weights: on a
    validation split with a quarter of its labels wrong the validation loss turns, training
    stops ``patience`` epochs after its minimum, and the model holds the weights of that
    minimum, not of the last epoch."""
    import keras

    from genrelab import baseline

    keras.utils.set_random_seed(0)
    (X, y), (X_valid, y_valid) = separable(20, 0), separable(5, 1)
    y_valid[::4] = (y_valid[::4] + 1) % len(GENRES)
    model = baseline.logistic_regression(X)
    used = []  # the callbacks baseline.fit hands to Keras

    def recording_fit(*args, callbacks=None, **kwargs):
        used.extend(callbacks or [])
        return type(model).fit(model, *args, callbacks=callbacks, **kwargs)

    model.fit = recording_fit
    history = baseline.fit(model, (X, y), (X_valid, y_valid), epochs=200, patience=20)
    stops = [c for c in used if isinstance(c, keras.callbacks.EarlyStopping)]
    assert len(stops) == 1, f"callbacks handed to Keras: {used}"
    assert stops[0].monitor == "val_loss" and stops[0].patience == 20
    assert stops[0].restore_best_weights
    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert best + 20 + 1 == len(history.epoch) < 200
    restored = model.evaluate(X_valid, y_valid, verbose=0, return_dict=True)["loss"]
    assert val_loss[-1] - val_loss[best] > 1e-2  # the last epoch's weights are worse...
    assert abs(restored - val_loss[best]) <= 1e-4 * max(1.0, restored)  # ...and were dropped
