"""Chapter 5's library (``genrelab.rnn``): the recurrence the book derives equals Keras' layer,
the seed's network has its published size, the course's LSTM standardizes inside the model,
track-level accuracy averages a track's segments, and the grader's structural check finds the
recurrent layer in the saved model."""
import numpy as np
import pytest

from genrelab import GENRES, rnn


def test_simple_rnn_is_the_recurrence_of_keras_simplernn():
    """``book/05_rnn.ipynb`` derives ``h_t = tanh(x_t W + h_{t-1} U + b)`` step by step; Keras'
    ``SimpleRNN`` with the same weights gives the same states."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 5)).astype(np.float32)
    layer = keras.layers.SimpleRNN(4, return_sequences=True)
    layer.build((None, 7, 5))
    kernel, recurrent, bias = (rng.normal(scale=0.5, size=w.shape).astype(np.float32)
                               for w in layer.get_weights())
    layer.set_weights([kernel, recurrent, bias])
    expected = np.asarray(layer(x))
    for k in range(2):
        ours = rnn.simple_rnn(x[k], kernel, recurrent, bias)
        assert ours.shape == (7, 4)
        assert np.allclose(ours, expected[k], atol=1e-5)
    assert not np.allclose(rnn.simple_rnn(x[0][::-1], kernel, recurrent, bias)[-1],
                           expected[0, -1], atol=1e-3), "order matters: reversed, other state"


def test_the_seed_lstm_has_the_seed_projects_57802_weights():
    model = rnn.seed_lstm()
    assert model.count_params() == 57_802
    assert model.input_shape == (None, 130, 13) and model.output_shape == (None, len(GENRES))
    assert [type(layer).__name__ for layer in model.layers] == [
        "LSTM", "LSTM", "Dense", "Dropout", "Dense"]


def test_the_honest_lstm_standardizes_each_coefficient_on_the_training_frames():
    rng = np.random.default_rng(1)
    scale = np.arange(1, 14, dtype=np.float32) * 10
    X = (rng.normal(size=(40, 130, 13)) * scale + 100).astype(np.float32)
    model = rnn.honest_lstm(X)
    norm = model.get_layer("standardize")
    frames = X.reshape(-1, 13)
    assert np.allclose(np.ravel(norm.mean), frames.mean(axis=0), rtol=1e-4)
    assert np.allclose(np.sqrt(np.ravel(norm.variance)), frames.std(axis=0), rtol=1e-3)
    assert model.count_params() <= 100_000
    probs = np.asarray(model(X[:3], training=False))
    assert probs.shape == (3, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_track_level_averages_a_tracks_segment_probabilities():
    """Three tracks: one whose segments mostly say its genre (right at both levels), one whose
    segments split but whose mean says its genre, one wrong throughout."""
    eye = np.eye(10)
    probs = np.array([eye[0], eye[0], eye[1],                       # track a: genre 0
                      0.4 * eye[2] + 0.6 * eye[3], 0.9 * eye[2] + 0.1 * eye[3],  # b: genre 2
                      eye[5], eye[5]])                              # c: genre 4, said 5
    y = np.array([0, 0, 0, 2, 2, 4, 4])
    tracks = np.array(["a", "a", "a", "b", "b", "c", "c"])
    ids, y_track, pred = rnn.track_level(probs, y, tracks)
    assert list(ids) == ["a", "b", "c"] and list(y_track) == [0, 2, 4] and list(pred) == [0, 2, 5]

    class Fixed:
        def predict(self, X, **kwargs):
            return probs

    result = rnn.accuracies(Fixed(), np.zeros((7, 130, 13)), y, tracks)
    assert result["segments"] == 7 and result["tracks"] == 3
    assert result["segment"][0] == pytest.approx(3 / 7)  # said 0 0 1 3 2 5 5: three right
    assert result["track"][0] == pytest.approx(2 / 3)
    assert result["track"][1] < 2 / 3 < result["track"][2]


def test_the_grader_requires_a_recurrent_layer_and_the_weight_budget():
    import keras

    from autograder.exercises import get

    exercise = get("rnn")
    norm = keras.layers.Normalization(axis=-1, mean=np.zeros(13), variance=np.ones(13))
    flat = keras.Sequential([keras.Input((130, 13)), norm, keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])
    assert any("no recurrent layer" in p for p in exercise.structure_problems(flat))
    gru = keras.Sequential([keras.Input((130, 13)), norm, keras.layers.GRU(16),
                            keras.layers.Dense(10, activation="softmax")])
    assert exercise.structure_problems(gru) == []
    big = keras.Sequential([keras.Input((130, 13)), norm, keras.layers.LSTM(256),
                            keras.layers.Dense(10, activation="softmax")])
    assert any("allows at most 100,000" in p for p in exercise.structure_problems(big))
    raw = rnn.seed_lstm()  # no standardization inside the model
    assert any("no Normalization layer" in p for p in exercise.structure_problems(raw))


def test_sequences_are_one_split_of_the_prepared_mfcc_segments(synthetic_env):
    X, y, tracks = rnn.sequences("train")
    assert X.shape[1:] == (130, 13) and X.dtype == np.float32 and len(X) == len(y) == len(tracks)
    counts = np.unique(tracks, return_counts=True)[1]
    assert set(counts) == {10}, "ten 3 s segments per 30 s track"
    _, _, valid = rnn.sequences("valid")
    assert not set(tracks) & set(valid), "a track lies in one split only"
