"""The chapter 3 models, *The multilayer perceptron* (``book/03_mlp.ipynb``).

:func:`seed_mlp` is the student project's network (1024-512-256-128-64-32-10 with dropout) that
reached 0.655 on a random split; :func:`honest_mlp` is the course's smaller, regularized one.
Both take the raw 57 features of :data:`genrelab.features.FEATURE_COLUMNS`: standardization
lives *inside* the model (a ``Normalization`` layer adapted on the training split), so a saved
``model.keras`` is self-contained and the grader needs nothing else.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no start-up notice on stderr

import keras  # noqa: E402

from genrelab import GENRES  # noqa: E402
from genrelab.features import FEATURE_COLUMNS  # noqa: E402

VARIANCE_COLUMNS = [i for i, c in enumerate(FEATURE_COLUMNS) if c.endswith("_var")]
"""The 28 ``*_var`` columns: they span orders of magnitude across tracks."""


@keras.saving.register_keras_serializable(package="genrelab")
class LogCompress(keras.layers.Layer):
    """``log(x + eps)`` on some input columns, the identity on the others.

    Variances are heavy-tailed: standardized as they are, a few tracks sit 20 standard deviations
    out and the rest are squeezed together. Taking their log first makes them near-normal. A
    registered layer, so a saved model stays loadable with ``safe_mode=True`` (import
    ``genrelab.mlp`` before loading)."""

    def __init__(self, columns=VARIANCE_COLUMNS, n_features=len(FEATURE_COLUMNS), eps=1e-8,
                 **kwargs):
        super().__init__(**kwargs)
        self.columns, self.n_features, self.eps = list(columns), n_features, eps
        self._mask = [i in set(self.columns) for i in range(n_features)]

    def call(self, x):
        ops = keras.ops
        logged = ops.log(ops.maximum(x, 0.0) + self.eps)
        return ops.where(ops.convert_to_tensor(self._mask), logged, x)

    def get_config(self):
        return {**super().get_config(), "columns": self.columns,
                "n_features": self.n_features, "eps": self.eps}


def _normalizer(train_X):
    norm = keras.layers.Normalization(name="standardize")
    norm.adapt(train_X)
    return norm


def seed_mlp(train_X, dropout=0.2):
    """The seed project's MLP (741k weights on 40 inputs there; 57 here). Its dropout rate is
    not in the slides; 0.2 is an assumption."""
    layers = [keras.Input((train_X.shape[1],)), _normalizer(train_X)]
    for width in (1024, 512, 256, 128, 64, 32):
        layers += [keras.layers.Dense(width, activation="relu"), keras.layers.Dropout(dropout)]
    layers.append(keras.layers.Dense(len(GENRES), activation="softmax"))
    return _compiled(keras.Sequential(layers, name="seed_mlp"), learning_rate=1e-3)


def honest_mlp(train_X, hidden=(256,), dropout=0.5, l2=1e-2, learning_rate=1e-3):
    """Log-compress the variances, standardize, ReLU layer(s) with L2 weight decay and dropout,
    softmax over the 10 genres."""
    reg = keras.regularizers.l2(l2)
    compress = LogCompress(name="log_variances")
    layers = [keras.Input((train_X.shape[1],), name="features"), compress,
              _normalizer(compress(train_X))]
    for width in hidden:
        layers += [keras.layers.Dense(width, activation="relu", kernel_regularizer=reg),
                   keras.layers.Dropout(dropout)]
    layers.append(keras.layers.Dense(len(GENRES), activation="softmax", name="genre"))
    return _compiled(keras.Sequential(layers, name="honest_mlp"), learning_rate)


def _compiled(model, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, train, valid, epochs=300, patience=30, batch_size=32, seed=0):
    """Train with early stopping on validation loss, keeping the best weights.
    ``train`` and ``valid`` are ``(X, y)`` pairs. Returns the Keras ``History``."""
    keras.utils.set_random_seed(seed)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                         restore_best_weights=True)
    return model.fit(*train, validation_data=valid, epochs=epochs, batch_size=batch_size,
                     callbacks=[stop], verbose=0)
