"""Genre Lab's companion library: the plumbing that the book, the solutions and the grader share.

One module per topic, each docstring naming the chapter that derives it:

- :mod:`genrelab.audio` -- loading clips safely (chapter 1, *Sound and its visualization*)
- :mod:`genrelab.features` -- the 57-feature table, MFCC sequences, log-mel segments (chapter 2)
- :mod:`genrelab.dataset` -- finding GTZAN (or the embedded sample set) and the prepared tables
- :mod:`genrelab.splits` -- the fault-filtered split, track-level and leaky splits (*Honest evaluation*)
- :mod:`genrelab.evaluation` -- confidence intervals, song-level aggregation (*Honest evaluation*)
- :mod:`genrelab.mlp` -- the chapter 3 models (the seed's MLP and the honest one)
- :mod:`genrelab.rnn` -- the chapter 5 models: the recurrence, the seed's LSTM and the honest one,
  segment- and track-level accuracy (*Recurrent networks*)
- :mod:`genrelab.crnn` -- the chapter 6 models: feature maps as a sequence, the untuned and the
  course's CRNN, SpecAugment-style augmentation (*Convolutional recurrent networks*)
- :mod:`genrelab.plots` -- training curves, confusion matrices, spectrograms
"""

GENRES = ("blues", "classical", "country", "disco", "hiphop",
          "jazz", "metal", "pop", "reggae", "rock")
"""The ten GTZAN genres; a model's output unit ``i`` means ``GENRES[i]``."""

SR = 22050
"""GTZAN's sample rate; every clip is resampled to it on loading."""

__version__ = "0.1.0"
