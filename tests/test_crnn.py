"""Chapter 6's library (``genrelab.crnn``): the maps-to-sequence step the book derives equals the
Keras layers, the CRNNs take raw log-mel segments and standardize them inside the model,
augmentation shifts and masks as it says (seeded, never changing its input), and the grader's
structural check wants a convolution before the recurrent layer."""
import numpy as np
import pytest

from genrelab import GENRES, crnn


def test_feature_maps_become_a_sequence_over_time_like_the_keras_layers():
    """``book/06_crnn.ipynb`` turns (freq x time x channels) maps into (time x freq*channels)
    steps; the built-in ``Permute`` and ``Reshape`` layers give the same array."""
    import keras

    maps = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype(np.float32)
    layers = keras.Sequential([keras.Input((4, 6, 3)), *crnn.feature_maps_to_sequence(4, 3)])
    ours = crnn.as_sequence(maps)
    assert ours.shape == (2, 6, 12)
    assert np.allclose(np.asarray(layers(maps)), ours)
    # step t holds every frequency row's channels at time t, and nothing from another time
    assert np.allclose(ours[1, 5], maps[1, :, 5, :].ravel())


@pytest.mark.parametrize("builder", [crnn.plain_crnn, crnn.honest_crnn])
def test_the_crnns_take_raw_log_mel_segments_and_standardize_them_inside(builder):
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(24, *crnn.MEL_SHAPE)) * 20 - 40).astype(np.float32)
    model = builder(X)
    norm = model.get_layer("standardize")
    assert np.ravel(norm.mean)[0] == pytest.approx(X.mean(), abs=0.5)
    assert np.sqrt(np.ravel(norm.variance)[0]) == pytest.approx(X.std(), rel=0.05)
    assert model.input_shape == (None, *crnn.MEL_SHAPE)
    assert model.output_shape == (None, len(GENRES))
    assert model.count_params() <= 150_000
    probs = np.asarray(model(X[:3], training=False))
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    from autograder.exercises import get
    assert get("crnn").structure_problems(model) == []


def test_spec_augment_shifts_and_masks_a_copy_and_repeats_with_its_seed():
    X = np.arange(2 * 8 * 10, dtype=np.float32).reshape(2, 8, 10)
    before = X.copy()
    out = crnn.spec_augment(X, np.random.default_rng(3), time_mask=3, freq_mask=2, fill=-1.0)
    assert np.array_equal(X, before), "the input is not changed"
    again = crnn.spec_augment(X, np.random.default_rng(3), time_mask=3, freq_mask=2, fill=-1.0)
    assert np.array_equal(out, again), "the same seed gives the same augmentation"
    for i in range(2):
        kept = out[i] != -1.0
        # every value kept is the original's, circularly shifted in time by one amount
        shifts = [s for s in range(10) if np.array_equal(np.roll(X[i], s, axis=1)[kept],
                                                          out[i][kept])]
        assert shifts, "the kept values are the segment shifted in time"
        masked_rows = np.where((~kept).all(axis=1))[0]
        masked_cols = np.where((~kept).all(axis=0))[0]
        assert len(masked_rows) <= 2 and len(masked_cols) <= 3
        assert (~kept).sum() <= 2 * 10 + 3 * 8, "at most one band and one stretch masked"
    plain = crnn.spec_augment(X, np.random.default_rng(0), max_shift=0, time_mask=0, freq_mask=0)
    assert np.array_equal(plain, X), "with nothing to do, the segment is unchanged"


def test_augmented_segments_cover_every_example_once_per_epoch():
    X = np.random.default_rng(0).normal(size=(10, *crnn.MEL_SHAPE)).astype(np.float32)
    y = np.arange(10)
    data = crnn.AugmentedSegments(X, y, batch_size=4, seed=1)
    assert len(data) == 3
    seen = np.concatenate([data[i][1] for i in range(len(data))])
    assert sorted(seen) == list(y)
    first = seen.copy()
    data.on_epoch_end()
    assert sorted(np.concatenate([data[i][1] for i in range(len(data))])) == list(y)
    assert data[0][0].shape == (4, *crnn.MEL_SHAPE)
    assert not np.array_equal(first, np.concatenate([data[i][1] for i in range(len(data))]))


def test_the_grader_requires_a_convolution_before_the_recurrent_layer():
    import keras

    from autograder.exercises import get

    L = keras.layers
    exercise = get("crnn")
    norm = L.Normalization(axis=None, mean=0.0, variance=1.0)
    front = [keras.Input(crnn.MEL_SHAPE), L.Reshape((*crnn.MEL_SHAPE, 1)), norm]
    good = keras.Sequential([*front, L.Conv2D(4, 3, padding="same"), L.MaxPooling2D((8, 2)),
                             *crnn.feature_maps_to_sequence(16, 4), L.GRU(8),
                             L.Dense(10, activation="softmax")])
    assert exercise.structure_problems(good) == []
    no_conv = keras.Sequential([*front, L.Reshape((128, 130)), L.Permute((2, 1)), L.GRU(8),
                                L.Dense(10, activation="softmax")])
    assert any("no convolution" in p for p in exercise.structure_problems(no_conv))
    rnn_first = keras.Sequential([*front, L.Reshape((128, 130)), L.GRU(8, return_sequences=True),
                                  L.Conv1D(4, 3), L.GlobalAveragePooling1D(),
                                  L.Dense(10, activation="softmax")])
    assert any("comes before its first convolution" in p
               for p in exercise.structure_problems(rnn_first))
    no_rnn = keras.Sequential([*front, L.Conv2D(4, 3), L.GlobalAveragePooling2D(),
                               L.Dense(10, activation="softmax")])
    assert any("no recurrent layer" in p for p in exercise.structure_problems(no_rnn))


def test_segments_are_one_split_of_the_prepared_log_mel_segments(synthetic_env):
    X, y, tracks = crnn.segments("train")
    assert X.shape[1:] == crnn.MEL_SHAPE and X.dtype == np.float32 and len(X) == len(y)
    assert set(np.unique(tracks, return_counts=True)[1]) == {10}
    assert not set(tracks) & set(crnn.segments("valid")[2])


def test_segment_exercises_get_longer_time_limits_unless_the_instructor_sets_them():
    """A CRNN trains for minutes on the full GTZAN (longer with students graded side by side):
    its graded run gets the exercise's limits; exercises without limits of their own get the
    course's cell limit and the sandbox's notebook limit."""
    from autograder import sandbox
    from autograder.exercises import get

    cell, whole = get("crnn").time_limits(600, sandbox.Limits.wall_s)
    assert cell > 600 and whole > sandbox.Limits.wall_s and whole >= cell
    assert get("mlp").time_limits(600, sandbox.Limits.wall_s) == (600, sandbox.Limits.wall_s)
    assert get("rnn").time_limits(600)[0] <= cell


def test_augmentation_refuses_what_it_cannot_augment():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="batch of segments"):
        crnn.spec_augment(np.zeros((8, 10)), rng)
    with pytest.raises(ValueError, match="do not fit"):
        crnn.spec_augment(np.zeros((1, 8, 10)), rng, freq_mask=9)
    with pytest.raises(ValueError, match="10 segments but 9 labels"):
        crnn.AugmentedSegments(np.zeros((10, 8, 10)), np.zeros(9))
