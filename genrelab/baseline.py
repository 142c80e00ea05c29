"""The chapter 2 baseline, *MFCCs and audio features* (``book/02_features.ipynb``): a logistic
regression on the 57 features of the 30-second table (:data:`genrelab.features.FEATURE_COLUMNS`).

It is the smallest honest classifier of the course, and the yardstick for every later model:
log-compress the 28 variance columns (:class:`genrelab.mlp.LogCompress`), standardize with a
``Normalization`` layer adapted on the training split, and one ``Dense(10, softmax)`` layer --
580 trained weights. Like the chapter 3 MLP it takes the **raw** features, so a saved
``model.keras`` is self-contained and the autograder grades it as the ``features`` exercise.
"""
from genrelab import GENRES
from genrelab.mlp import LogCompress, _compiled, _normalizer, fit, keras

__all__ = ["logistic_regression", "fit"]


def logistic_regression(train_X, l2=1e-3, learning_rate=1e-2):
    """Log variances, standardize (statistics of ``train_X``), softmax over the 10 genres, with a
    small L2 weight decay; compiled with the sparse categorical cross-entropy. Train it with
    :func:`fit` (early stopping on the validation loss, best weights kept)."""
    compress = LogCompress(name="log_variances")
    model = keras.Sequential([
        keras.Input((train_X.shape[1],), name="features"), compress,
        _normalizer(compress(train_X)),
        keras.layers.Dense(len(GENRES), activation="softmax", name="genre",
                           kernel_regularizer=keras.regularizers.l2(l2)),
    ], name="logistic_regression")
    return _compiled(model, learning_rate)
