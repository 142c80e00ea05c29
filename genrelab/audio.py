"""Loading audio clips safely. Derived in chapter 1, *Sound and its visualization*
(``book/01_sound.ipynb``).

Every loader here resamples to :data:`genrelab.SR` (22050 Hz, GTZAN's rate) and mono, whatever
the file's own rate and format (GTZAN's ``.au``, Kaggle's ``.wav``, Ogg Opus), and turns every
way a file can be bad into one :class:`AudioError` that names the file.
"""
from pathlib import Path

import numpy as np

from genrelab import SR


class AudioError(ValueError):
    """A clip that cannot be used: missing, unreadable, corrupt, silent or too short."""


def load_clip(path, sr=SR, duration=None, min_seconds=3.0, bandlimit_hz=None):
    """Load one clip as mono float32 at ``sr``.

    ``duration`` (seconds) truncates; ``min_seconds`` rejects clips too short to give one 3 s
    segment; ``bandlimit_hz`` low-passes the clip (used where some clips of a data set reached us
    band-limited, so that bandwidth cannot stand in for genre).
    """
    import librosa
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path.name}: no such file ({path})")
    try:
        with sf.SoundFile(path) as f:
            native = f.samplerate
            frames = -1 if duration is None else int(duration * native)
            y = f.read(frames, dtype="float32", always_2d=True).mean(axis=1)
    except (sf.LibsndfileError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise AudioError(f"{path.name}: cannot be decoded ({type(err).__name__}: {err})") from err
    if native != sr:
        y = librosa.resample(y, orig_sr=native, target_sr=sr)  # soxr_hq, as librosa.load
    if y.size < min_seconds * sr:
        raise AudioError(f"{path.name}: only {y.size / sr:.2f} s of audio, "
                         f"at least {min_seconds:g} s needed")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{path.name}: contains NaN or infinite samples")
    if not np.any(y):
        raise AudioError(f"{path.name}: is silent (all samples are zero)")
    if bandlimit_hz:
        y = bandlimit(y, sr, bandlimit_hz)
    return y.astype(np.float32, copy=False)


def bandlimit(y, sr, cutoff_hz):
    """Remove everything above ``cutoff_hz`` by resampling down to ``2 * cutoff_hz`` and back."""
    import librosa

    low = int(2 * cutoff_hz)
    if low >= sr:
        return y
    return librosa.resample(librosa.resample(y, orig_sr=sr, target_sr=low),
                            orig_sr=low, target_sr=sr)[: y.size]
