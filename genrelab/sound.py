"""Synthesized tones and envelopes: the sounds chapter 1, *Sound and its visualization*
(``book/01_sound.ipynb``), uses to show pitch, loudness and timbre one at a time.

Every tone here is band-limited: a square or sawtooth wave is built from its harmonics (a Fourier
series) up to the Nyquist frequency, so that no harmonic above ``sr / 2`` folds back as an alias.
"""
import numpy as np

from genrelab import SR

WAVEFORMS = ("sine", "square", "sawtooth")
"""The tone shapes :func:`tone` makes, in order of increasing brightness."""


def harmonic_amplitudes(waveform, n_harmonics):
    """Amplitudes of harmonics 1..``n_harmonics`` of a unit ``waveform`` (chapter 1,
    ``book/01_sound.ipynb``): a sine has only the first; a square wave the odd ones, ``4/(pi k)``;
    a sawtooth all of them, ``2/(pi k)``."""
    if waveform not in WAVEFORMS:
        raise ValueError(f"unknown waveform {waveform!r}: choose one of {', '.join(WAVEFORMS)}")
    if n_harmonics < 1:
        raise ValueError("at least one harmonic is needed")
    k = np.arange(1, n_harmonics + 1)
    if waveform == "sine":
        return (k == 1).astype(float)
    if waveform == "square":
        return np.where(k % 2 == 1, 4 / (np.pi * k), 0.0)
    return 2 / (np.pi * k)


def tone(frequency, duration=1.0, waveform="sine", sr=SR, amplitude=0.5):
    """A tone of ``frequency`` Hz lasting ``duration`` s, as float32 at ``sr`` (chapter 1,
    ``book/01_sound.ipynb``).

    ``waveform`` is ``sine``, ``square`` or ``sawtooth``; the square and sawtooth waves are sums
    of their harmonics below the Nyquist frequency ``sr / 2`` (band-limited, hence free of
    aliasing, with a little ripple at the jumps). ``amplitude`` scales the ideal waveform (the
    sum of all its harmonics), whose peak is 1.
    """
    if not 0 < frequency < sr / 2:
        raise ValueError(f"frequency {frequency} Hz is not between 0 and the Nyquist "
                         f"frequency {sr / 2:g} Hz")
    n_harmonics = int(np.ceil(sr / 2 / frequency)) - 1  # harmonics strictly below sr / 2
    amps = harmonic_amplitudes(waveform, max(n_harmonics, 1))
    t = np.arange(int(round(duration * sr))) / sr
    y = np.zeros_like(t)
    for k, a in enumerate(amps, start=1):
        if a:
            y += a * np.sin(2 * np.pi * k * frequency * t)
    return (amplitude * y).astype(np.float32)


def adsr(n, sr=SR, attack=0.01, decay=0.1, sustain=0.7, release=0.2):
    """An attack-decay-sustain-release envelope of ``n`` samples with values in [0, 1]
    (chapter 1, ``book/01_sound.ipynb``).

    It rises linearly from 0 to 1 in ``attack`` s, falls to the ``sustain`` level in ``decay``
    s, holds it, and falls back to 0 over the last ``release`` s. The times are shortened in
    proportion when they do not fit into ``n`` samples.
    """
    if not 0 <= sustain <= 1:
        raise ValueError("the sustain level must lie between 0 and 1")
    lengths = np.array([attack, decay, release], dtype=float) * sr
    if np.any(lengths < 0):
        raise ValueError("attack, decay and release times cannot be negative")
    if lengths.sum() > n:
        lengths *= n / lengths.sum()
    a, d, r = (int(round(v)) for v in lengths)
    a, d = min(a, n), min(d, n - min(a, n))
    r = min(r, n - a - d)
    s = n - a - d - r
    env = np.concatenate([
        np.linspace(0, 1, a, endpoint=False),
        np.linspace(1, sustain, d, endpoint=False),
        np.full(s, float(sustain)),
        np.linspace(sustain, 0, r),
    ])
    return env.astype(np.float32)
