"""``python -m data_scripts synthetic``: the embedded sample set.

Procedurally synthesized clips for all ten genres, written in GTZAN's layout
(``<dest>/genres/<genre>/<genre>.000NN.wav``, 22050 Hz mono), so that the whole course -- book,
exercises, grading -- runs offline on a machine without GTZAN. Each genre has its own tempo range,
drum pattern, instruments, harmony and brightness; each clip draws its key, tempo, mix and noise
from a generator seeded by (seed, genre, index), so the set is deterministic yet varied, and the
genres overlap enough that a model has to learn something (an MLP reaches well above chance,
not 100%). It is music only in a loose sense: a teaching stand-in, never a result about GTZAN.
"""
import json
import os
from pathlib import Path

import numpy as np

from genrelab import GENRES, SR

VERSION = 1

# Drum patterns: 16 steps per bar; K kick, S snare, H hat (lower case: quieter).
# tempo (bpm range), scale, progression (scale degrees), instrument waveform, brightness (Hz),
# drive (distortion), swing (0..1/3), chord rhythm (steps per chord hit; 0 = sustained).
STYLES = {
    "blues":     dict(tempo=(70, 100), scale="blues", prog=[0, 0, 3, 0, 4, 3, 0, 4],
                      wave="saw", bright=2500, drive=0.3, swing=0.3, hit=4,
                      kick="K.......K.......", snare="....S.......S...", hat="H.h.H.h.H.h.H.h."),
    "classical": dict(tempo=(60, 90), scale="major", prog=[0, 3, 4, 0, 5, 3, 4, 0],
                      wave="strings", bright=3000, drive=0.0, swing=0.0, hit=0,
                      kick="................", snare="................", hat="................"),
    "country":   dict(tempo=(100, 130), scale="major", prog=[0, 3, 4, 0],
                      wave="pluck", bright=4000, drive=0.0, swing=0.1, hit=2,
                      kick="K.......K.......", snare="....S.......S...", hat="..h...h...h...h."),
    "disco":     dict(tempo=(115, 130), scale="minor", prog=[0, 3, 6, 4],
                      wave="square", bright=5000, drive=0.0, swing=0.0, hit=2,
                      kick="K...K...K...K...", snare="....S.......S...", hat="..H...H...H...H."),
    "hiphop":    dict(tempo=(80, 100), scale="minor", prog=[0, 0, 5, 4],
                      wave="sine", bright=1500, drive=0.1, swing=0.2, hit=8,
                      kick="K......K..K.....", snare="....S.......S...", hat="h.h.h.h.h.h.h.h."),
    "jazz":      dict(tempo=(110, 180), scale="dorian", prog=[1, 4, 0, 5],
                      wave="sine", bright=2000, drive=0.0, swing=0.33, hit=6,
                      kick="K...............", snare="..........s.....", hat="H..hH..hH..hH..h"),
    "metal":     dict(tempo=(140, 190), scale="phrygian", prog=[0, 1, 0, 6],
                      wave="saw", bright=6000, drive=0.9, swing=0.0, hit=1,
                      kick="KKKKKKKKKKKKKKKK", snare="....S.......S...", hat="H.H.H.H.H.H.H.H."),
    "pop":       dict(tempo=(95, 125), scale="major", prog=[0, 4, 5, 3],
                      wave="square", bright=3500, drive=0.0, swing=0.0, hit=4,
                      kick="K.......K.K.....", snare="....S.......S...", hat="H.H.H.H.H.H.H.H."),
    "reggae":    dict(tempo=(65, 85), scale="major", prog=[0, 3, 0, 4],
                      wave="organ", bright=2500, drive=0.0, swing=0.1, hit=0,
                      kick="........K.......", snare="........S.......", hat="..H...H...H...H."),
    "rock":      dict(tempo=(100, 140), scale="minor", prog=[0, 5, 3, 4],
                      wave="saw", bright=4500, drive=0.6, swing=0.0, hit=2,
                      kick="K.......K.K.....", snare="....S.......S...", hat="H.H.H.H.H.H.H.H."),
}
BORROW = 0.25
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10],
          "dorian": [0, 2, 3, 5, 7, 9, 10], "phrygian": [0, 1, 3, 5, 7, 8, 10],
          "blues": [0, 3, 5, 6, 7, 10, 10]}


def _wave(kind, freq, t, rng):
    """One note's waveform (no envelope) at ``freq`` over times ``t``."""
    phase = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
    if kind == "sine":
        return np.sin(phase) + 0.2 * np.sin(2 * phase)
    if kind == "square":
        return np.sign(np.sin(phase)) * 0.6
    if kind == "saw":
        return 2 * ((freq * t + phase / (2 * np.pi)) % 1.0) - 1
    if kind == "organ":
        return sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    if kind == "strings":
        vibrato = 0.003 * np.sin(2 * np.pi * 5 * t)
        return sum(np.sin(k * phase * (1 + vibrato)) / k ** 1.5 for k in range(1, 7))
    return np.sin(phase) * np.exp(-3 * t) + 0.5 * np.sin(2 * phase) * np.exp(-6 * t)  # pluck


def _lowpass(y, cutoff):
    """A gentle one-pole low-pass via the FFT: scales each bin by 1/sqrt(1 + (f/fc)^2)."""
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(y.size, 1 / SR)
    return np.fft.irfft(spec / np.sqrt(1 + (f / cutoff) ** 2), n=y.size)


def _drum(kind, n, rng):
    """A one-shot drum sound of ``n`` samples."""
    t = np.arange(n) / SR
    if kind == "K":
        return np.sin(2 * np.pi * (50 + 80 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    noise = rng.normal(size=n)
    if kind == "S":
        return (0.7 * noise + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 25)
    return np.diff(noise, prepend=0) * np.exp(-t * 80) * 0.5  # H: high-passed noise


def synthesize_clip(genre, index, duration=30.0, sr=SR, seed=0):
    """One clip of ``genre`` as float32 in [-1, 1]; the same arguments give the same samples."""
    if sr != SR:
        raise ValueError(f"the sample set is made at {SR} Hz")
    rng = np.random.default_rng([seed, GENRES.index(genre), index])
    # Each attribute is borrowed from another genre with probability BORROW: genres overlap.
    style = {k: (STYLES[GENRES[rng.integers(len(GENRES))]][k] if rng.random() < BORROW else v)
             for k, v in STYLES[genre].items()}
    n = int(duration * sr)
    y = np.zeros(n)
    bpm = rng.uniform(*style["tempo"])
    step = 60 / bpm / 4                                    # a 16th note, in seconds
    key = 45 + rng.integers(0, 12)                         # MIDI note of the tonic (A2..G#3)
    scale = SCALES[style["scale"]]
    n_steps = int(duration / step)
    onsets = np.arange(n_steps) * step
    onsets[1::2] += style["swing"] * step * rng.uniform(0.7, 1.0)  # swing the off-16ths
    # drums
    for kind in "KSH":
        pattern = style[{"K": "kick", "S": "snare", "H": "hat"}[kind]]
        hit = _drum(kind, int(0.25 * sr), rng) * rng.uniform(0.5, 1.0)
        for i in range(n_steps):
            mark = pattern[i % 16]
            if mark != "." and rng.random() > 0.05:
                start = int(onsets[i] * sr)
                piece = hit[: n - start] * (1.0 if mark.isupper() else 0.5)
                y[start:start + piece.size] += piece
    # harmony: one chord per bar, triads (jazz: sevenths) from the scale
    music = np.zeros(n)
    bar = 16 * step
    chord_notes = 4 if style["scale"] == "dorian" else 3
    for b in range(int(np.ceil(duration / bar))):
        degree = style["prog"][b % len(style["prog"])]
        notes = [key + 12 + scale[(degree + 2 * k) % 7] + 12 * ((degree + 2 * k) // 7)
                 for k in range(chord_notes)]
        hits = [0.0] if style["hit"] == 0 else np.arange(0, 16, style["hit"]) * step
        if genre == "reggae" and style["hit"] == 0:
            hits = np.arange(4, 16, 8) * step                # the off-beat skank
        for h in hits:
            start = int((b * bar + h) * sr)
            length = min(int((bar if style["hit"] == 0 else style["hit"] * step * 0.9) * sr),
                         n - start)
            if length <= 0:
                continue
            t = np.arange(length) / sr
            env = np.minimum(1, t / (0.3 if style["wave"] == "strings" else 0.01)) * np.exp(-t * 1.5)
            detune = 1 + rng.normal(0, 0.002)
            chord = sum(_wave(style["wave"], 440 * 2 ** ((m - 69) / 12) * detune, t, rng)
                        for m in notes)
            music[start:start + length] += env * chord / chord_notes
            bass = _wave("sine", 440 * 2 ** ((notes[0] - 12 - 69) / 12), t, rng)
            music[start:start + length] += 0.6 * env * bass
    if style["drive"]:
        music = np.tanh(music * (1 + 8 * style["drive"])) / np.tanh(1 + 8 * style["drive"])
    mix = rng.uniform(0.4, 0.8) * music + rng.uniform(0.3, 0.7) * y
    mix = _lowpass(mix, style["bright"] * rng.uniform(0.7, 1.4))
    mix += rng.uniform(0.005, 0.1) * np.abs(mix).max() * rng.normal(size=n)
    return (0.9 * mix / np.abs(mix).max()).astype(np.float32)


def make_synthetic(dest=None, clips_per_genre=30, duration=30.0, sr=SR, seed=0,
                   overwrite=False):
    """Write the sample set into ``dest`` (default ``data/synthetic``); returns ``dest``.
    A run with the same parameters as the marker file's is skipped unless ``overwrite``."""
    import soundfile as sf

    from genrelab.dataset import data_dir

    dest = Path(dest) if dest else data_dir() / "synthetic"
    params = {"generator": "genrelab synthetic", "version": VERSION, "seed": seed, "sr": sr,
              "clips_per_genre": clips_per_genre, "duration": duration}
    marker = dest / "SYNTHETIC"
    if marker.is_file() and not overwrite:
        if json.loads(marker.read_text()).get("params") == params:
            return dest
    for genre in GENRES:
        folder = dest / "genres" / genre
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(clips_per_genre):
            tmp = folder / f".{genre}.{i:05d}.tmp.wav"
            sf.write(tmp, synthesize_clip(genre, i, duration, sr, seed), sr, subtype="PCM_16")
            os.replace(tmp, folder / f"{genre}.{i:05d}.wav")
    marker.write_text(json.dumps({
        "what": "Genre Lab's embedded sample set: synthesized clips in GTZAN's layout, for "
                "running the course offline. Not GTZAN; not music to draw conclusions from.",
        "params": params}, indent=2) + "\n")
    return dest


def add_arguments(parser):
    parser.add_argument("--dest", type=Path, help="output folder (default: data/synthetic)")
    parser.add_argument("--clips-per-genre", type=int, default=30)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")


def main(args):
    dest = make_synthetic(args.dest, args.clips_per_genre, args.duration, seed=args.seed,
                          overwrite=args.overwrite)
    print(f"sample set: {args.clips_per_genre} clips x {len(GENRES)} genres in {dest}")
