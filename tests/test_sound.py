"""The synthesized tones and envelopes of chapter 1 (``genrelab.sound``)."""
import numpy as np
import pytest

from genrelab import SR
from genrelab.sound import WAVEFORMS, adsr, harmonic_amplitudes, tone


def spectrum(y, sr=SR):
    """Magnitude spectrum of a whole signal and its frequencies."""
    return np.abs(np.fft.rfft(y)), np.fft.rfftfreq(y.size, 1 / sr)


@pytest.mark.parametrize("waveform", WAVEFORMS)
def test_tone_length_type_and_pitch(waveform):
    y = tone(220.0, duration=0.5, waveform=waveform)
    assert y.dtype == np.float32 and y.shape == (SR // 2,)
    mag, freqs = spectrum(y)
    assert freqs[np.argmax(mag)] == pytest.approx(220.0, abs=2.0)  # the fundamental is strongest


def test_sine_is_a_sine():
    y = tone(441.0, duration=1.0, amplitude=0.25)
    t = np.arange(SR) / SR
    assert np.allclose(y, 0.25 * np.sin(2 * np.pi * 441.0 * t), atol=1e-6)


def test_harmonic_content():
    f0 = 441.0  # 1 s at 22050 Hz: harmonic k falls exactly on bin 441 k
    mags = {w: spectrum(tone(f0, duration=1.0, waveform=w))[0] for w in WAVEFORMS}
    bins = f0 * np.arange(1, 6)
    sine, square, saw = (mags[w][bins.astype(int)] for w in WAVEFORMS)
    assert np.all(sine[1:] < 1e-3 * sine[0])
    assert np.all(square[[1, 3]] < 1e-3 * square[0])        # no even harmonics
    assert square[2] / square[0] == pytest.approx(1 / 3, rel=1e-3)
    assert np.allclose(saw / saw[0], 1 / np.arange(1, 6), rtol=1e-3)  # all of them, 1/k


def test_tones_are_band_limited():
    f0 = 3000.0
    for waveform in WAVEFORMS:
        mag, freqs = spectrum(tone(f0, duration=1.0, waveform=waveform))
        harmonics = np.isclose(freqs % f0, 0, atol=1.0) | np.isclose(freqs % f0, f0, atol=1.0)
        assert mag[~harmonics].max() < 1e-3 * mag.max(), f"{waveform}: energy off the harmonics"


def test_square_wave_peak_is_close_to_amplitude():
    y = tone(110.0, duration=0.2, waveform="square", amplitude=0.5)
    assert 0.45 < np.abs(y).max() < 0.6  # Gibbs ripple: about 9% above the ideal square


def test_tone_rejects_frequencies_beyond_nyquist():
    with pytest.raises(ValueError):
        tone(SR / 2)
    with pytest.raises(ValueError):
        tone(100.0, waveform="triangle")
    with pytest.raises(ValueError):
        harmonic_amplitudes("sine", 0)


def test_adsr_shape():
    env = adsr(SR, attack=0.1, decay=0.2, sustain=0.5, release=0.3)
    assert env.shape == (SR,) and env.dtype == np.float32
    assert env[0] == 0 and env.max() == pytest.approx(1.0, abs=1e-3)
    assert np.argmax(env) == pytest.approx(0.1 * SR, abs=2)
    assert np.all(env[int(0.3 * SR) + 1: int(0.7 * SR) - 1] == 0.5)  # sustain
    assert env[-1] == 0
    assert np.all(np.diff(env[: int(0.1 * SR)]) > 0)                 # attack rises
    assert np.all(np.diff(env[int(0.7 * SR) + 1:]) < 0)              # release falls


def test_adsr_squeezes_times_that_do_not_fit():
    env = adsr(100, sr=1000, attack=0.1, decay=0.1, release=0.2)  # 400 samples into 100
    assert env.shape == (100,)
    assert np.all((env >= 0) & (env <= 1))
    with pytest.raises(ValueError):
        adsr(100, sustain=1.5)
