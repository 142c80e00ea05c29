"""Figures the chapters share: training curves, confusion matrices, spectrograms.
First used in chapter 1 (``book/01_sound.ipynb``) and chapter 3 (``book/03_mlp.ipynb``)."""
import numpy as np

from genrelab import GENRES, SR


def history(hist, ax=None, title=None):
    """Loss and accuracy per epoch, training against validation, from a Keras ``History`` (or
    its ``.history`` dict); the loss alone for a model trained without an accuracy (chapter 7's
    autoencoders)."""
    import matplotlib.pyplot as plt

    curves = getattr(hist, "history", hist)
    metrics = [m for m in ("loss", "accuracy") if m in curves]
    if ax is None:
        _, ax = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
        ax = ax[0]
    for axis, metric in zip(ax, metrics):
        axis.plot(curves[metric], label="train")
        axis.plot(curves[f"val_{metric}"], label="validation")
        axis.set(xlabel="epoch", ylabel=metric)
        axis.legend()
    if title:
        ax[0].figure.suptitle(title)
    return ax


def confusion(y_true, y_pred, ax=None, title=None):
    """Row-normalized confusion matrix (each true genre's row sums to 1)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=np.arange(len(GENRES)), display_labels=GENRES,
        normalize="true", values_format=".2f", xticks_rotation=45, ax=ax, colorbar=False)
    if title:
        ax.set_title(title)
    return ax


def spectrogram(db, ax=None, title=None, y_axis="mel", hop_length=512):
    """A dB spectrogram (mel by default) with time and frequency axes."""
    import librosa.display
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    img = librosa.display.specshow(db, sr=SR, hop_length=hop_length, x_axis="time",
                                   y_axis=y_axis, ax=ax)
    ax.figure.colorbar(img, ax=ax, format="%+2.0f dB")
    if title:
        ax.set_title(title)
    return ax
