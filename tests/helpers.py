"""Small audio fixtures written on the fly (nothing real is ever committed)."""
import numpy as np
import soundfile as sf

from genrelab import SR


def tone_clip(seconds=6.5, f0=220.0, seed=0, sr=SR):
    """A harmonic tone with a pulse of noise bursts: enough structure for every feature."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    beats = (np.sin(2 * np.pi * 2.0 * t) > 0.95) * rng.normal(0, 0.5, t.size)
    return (0.2 * y + beats + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def write_clip(path, y, sr=SR, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, **kwargs)
    return path
