"""``python -m data_scripts synthetic``: the embedded sample set.

Procedurally synthesized clips for all ten genres, written in GTZAN's layout
(``<dest>/genres/<genre>/<genre>.000NN.wav``, 16-bit mono WAV) with a ``SYNTHETIC`` marker
file beside ``genres/``, so that the course runs offline on a machine without GTZAN.

Each genre has a character (:data:`GENRE_STYLES`): a tempo range and swing, a drum pattern and
kit, a chord progression and mode, a bass line, a comping instrument and rhythm, an optional
melody or arpeggio, and a mix (brightness, distortion, room). Each clip draws its key, tempo,
instruments, mix levels, detuning and noise from a generator seeded by (seed, genre, index), and
now and then borrows a part (drums, bass, comp, lead) from a random genre, so clips vary within a
genre and genres overlap: a small model on MFCC statistics separates them well above chance, but
not perfectly (a logistic regression: about 0.6 on 6 s clips, 0.8-0.9 on 30 s clips). It is music
only in a loose sense -- a teaching stand-in, never a result about GTZAN.
"""
import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy import signal

from genrelab import GENRES, SR

VERSION = 2
BORROW = 0.15  # chance that a clip takes each of its parts (drums, bass, ...) from a random genre

# Drum patterns have 16 steps (16th notes) per bar: X a hit, x a soft hit, . nothing. Bass lines
# use chord tones: 1 root, 3 third, 5 fifth, 6 sixth, 7 seventh, 8 octave, w a walking approach to
# the next bar's root. Progressions are Roman numerals in the clip's key (lower case: minor).
GENRE_STYLES = {
    "blues": dict(
        tempo=(70, 110), swing=0.8, kit="acoustic",
        kick="X.......X.......", snare="....X.......X...", hat="X.x.X.x.X.x.X.x.",
        prog="I7 I7 I7 I7 IV7 IV7 I7 I7 V7 IV7 I7 V7", scale="blues",
        bass="1...3...5...6...", bass_inst="bass",
        comp="X.x.X.x.X.x.X.x.", comp_inst=("guitar", "piano"), comp_gate=0.8, comp_low=52,
        lead="melody", lead_inst=("guitar", "reed"), density=0.5,
        mix=(0.7, 0.8, 0.8, 0.7), bright=3000, drive=2.5, room=0.3),
    "classical": dict(
        tempo=(60, 100), swing=0.0, kit=None, kick="", snare="", hat="",
        prog=("I IV V I vi ii V I", "i iv V i VI iv V i"), scale="major",
        bass="1...............", bass_inst="cello",
        comp="X...............", comp_inst=("strings", "organ"), comp_gate=1.0, comp_low=55,
        lead="arp", lead_inst=("piano", "harp"), density=0.8,
        mix=(0.5, 0.6, 0.8, 0.8), bright=3500, drive=0.0, room=0.7),
    "country": dict(
        tempo=(95, 140), swing=0.15, kit="brush",
        kick="X.......X.......", snare="....x.......x...", hat="x.x.x.x.x.x.x.x.",
        prog=("I IV I V", "I I IV IV V V I I"), scale="major",
        bass="1.......5.......", bass_inst="bass",
        comp="..X.X.X...X.X.X.", comp_inst=("pluck", "piano"), comp_gate=0.6, comp_low=55,
        lead="arp", lead_inst=("pluck", "fiddle"), density=0.9,
        mix=(0.6, 0.8, 0.8, 0.6), bright=5000, drive=0.0, room=0.2),
    "disco": dict(
        tempo=(110, 130), swing=0.0, kit="disco",
        kick="X...X...X...X...", snare="....X.......X...", hat="..X...X...X...X.",
        prog=("im7 ivm7", "im9 im9 ivm7 bVII7"), scale="dorian",
        bass="1.8.1.8.1.8.1.8.", bass_inst="synthbass",
        comp="..X...X...X...X.", comp_inst=("strings", "epiano"), comp_gate=0.5, comp_low=60,
        lead="melody", lead_inst=("saw", "voice"), density=0.6,
        mix=(1.0, 0.9, 0.6, 0.5), bright=7000, drive=0.0, room=0.25),
    "hiphop": dict(
        tempo=(80, 100), swing=0.5, kit="808",
        kick="X......X..X.....", snare="....X.......X...", hat="x.x.x.x.x.x.x.x.",
        prog=("im9 im9 bVImaj7 bVImaj7", "im7 ivm7"), scale="minor",
        bass="1......1..1.....", bass_inst="sub",
        comp="X.......X.......", comp_inst=("epiano", "strings"), comp_gate=1.0, comp_low=52,
        lead="melody", lead_inst=("epiano", "sine"), density=0.25,
        mix=(1.0, 1.0, 0.5, 0.3), bright=2200, drive=0.0, room=0.1),
    "jazz": dict(
        tempo=(110, 200), swing=1.0, kit="jazz",
        kick="x.......x.......", snare="...........x....", hat="X...X.x.X...X.x.",
        prog=("iim9 V9 Imaj7 VI7", "iim7 V7 Imaj7 Imaj7"), scale="dorian",
        bass="1...3...5...w...", bass_inst="upright",
        comp="X.....x...X.....", comp_inst=("piano", "epiano"), comp_gate=0.6, comp_low=52,
        lead="melody", lead_inst=("reed", "vibes"), density=0.7,
        mix=(0.6, 0.8, 0.6, 0.8), bright=2800, drive=0.0, room=0.4),
    "metal": dict(
        tempo=(140, 200), swing=0.0, kit="metal",
        kick="XXXXXXXXXXXXXXXX", snare="....X.......X...", hat="X.X.X.X.X.X.X.X.",
        prog=("i5 bII5 i5 bVI5", "i5 i5 bVII5 bVI5"), scale="phrygian",
        bass="1111111111111111", bass_inst="synthbass",
        comp="XXXXXXXXXXXXXXXX", comp_inst=("guitar",), comp_gate=0.9, comp_low=40,
        lead="melody", lead_inst=("guitar", "saw"), density=0.3,
        mix=(0.8, 0.6, 1.0, 0.4), bright=8000, drive=12.0, room=0.1),
    "pop": dict(
        tempo=(95, 125), swing=0.0, kit="acoustic",
        kick="X.......X.X.....", snare="....X.......X...", hat="x.x.x.x.x.x.x.x.",
        prog=("I V vi IV", "vi IV I V"), scale="major",
        bass="1.1.1.1.1.1.1.1.", bass_inst="synthbass",
        comp="X..X..X.X..X..X.", comp_inst=("saw", "piano"), comp_gate=0.9, comp_low=55,
        lead="melody", lead_inst=("voice", "saw"), density=0.6,
        mix=(0.8, 0.8, 0.7, 0.8), bright=5500, drive=0.0, room=0.3),
    "reggae": dict(
        tempo=(60, 85), swing=0.2, kit="acoustic",
        kick="........X.......", snare="........X.......", hat="x.x.x.x.x.x.x.x.",
        prog=("I IV", "i iv", "I IV V IV"), scale="major",
        bass="1..5..8.....3.1.", bass_inst="sub",
        comp="..X...X...X...X.", comp_inst=("pluck", "organ"), comp_gate=0.3, comp_low=60,
        lead="melody", lead_inst=("organ", "voice"), density=0.3,
        mix=(0.6, 1.0, 0.7, 0.4), bright=3500, drive=0.0, room=0.35),
    "rock": dict(
        tempo=(100, 150), swing=0.0, kit="acoustic",
        kick="X.......X.X.....", snare="....X.......X...", hat="X.x.X.x.X.x.X.x.",
        prog=("I5 bVII5 IV5 I5", "i5 bVI5 bIII5 bVII5"), scale="minor",
        bass="1.1.1.1.1.1.1.1.", bass_inst="bass",
        comp="X.X.X.X.X.X.X.X.", comp_inst=("guitar",), comp_gate=0.9, comp_low=45,
        lead="melody", lead_inst=("guitar", "voice"), density=0.4,
        mix=(0.8, 0.7, 0.9, 0.6), bright=5500, drive=5.0, room=0.2),
}
PARTS = {"drums": ("kit", "kick", "snare", "hat"), "bass": ("bass", "bass_inst"),
         "comp": ("comp", "comp_inst", "comp_gate", "comp_low"),
         "lead": ("lead", "lead_inst", "density")}

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10),
          "dorian": (0, 2, 3, 5, 7, 9, 10), "phrygian": (0, 1, 3, 5, 7, 8, 10),
          "blues": (0, 3, 5, 6, 7, 10)}
CHORDS = {"": (0, 4, 7), "m": (0, 3, 7), "7": (0, 4, 7, 10), "m7": (0, 3, 7, 10),
          "maj7": (0, 4, 7, 11), "9": (0, 4, 10, 14), "m9": (0, 3, 10, 14), "5": (0, 7, 12)}
ROMAN = {"I": 0, "II": 2, "III": 4, "IV": 5, "V": 7, "VI": 9, "VII": 11}

# Instruments: harmonic amplitudes at the onset and after the decay (additive synthesis through a
# wavetable), or an FM pair (modulator:carrier ratio, modulation index); attack and decay times in
# seconds (decay 0: sustained); vibrato depth; a low-pass cutoff in Hz (subtractive synthesis).
INSTRUMENTS = {
    "sine": dict(h=(1, 0.15), attack=0.01, decay=0.0),
    "piano": dict(h=(1, .6, .4, .3, .25, .2, .12, .1), dark=(1, .3, .1), attack=0.003, decay=1.0),
    "harp": dict(h=(1, .4, .2, .1), dark=(1, .1), attack=0.003, decay=0.6),
    "pluck": dict(h=(1, .8, .6, .5, .4, .35, .3, .25, .2, .15), dark=(1, .2), attack=0.002,
                  decay=0.4),
    "guitar": dict(h=(1, .5, .33, .25, .2, .17, .14), dark=(1, .5, .2), attack=0.003, decay=1.5),
    "organ": dict(h=(1, .9, .6, 0, .5, 0, 0, .4), attack=0.01, decay=0.0),
    "strings": dict(h=tuple(1 / k for k in range(1, 13)), attack=0.35, decay=0.0, vibrato=0.004),
    "cello": dict(h=(1, .6, .4, .3, .2, .1), attack=0.25, decay=0.0, vibrato=0.004),
    "fiddle": dict(h=tuple(1 / k for k in range(1, 11)), attack=0.04, decay=0.0, vibrato=0.006),
    "reed": dict(h=(1, .7, .8, .5, .45, .3, .25, .15), attack=0.04, decay=0.0, vibrato=0.005),
    "voice": dict(h=(1, .5, .25, .15, .1, .05), attack=0.06, decay=0.0, vibrato=0.008),
    "saw": dict(h=tuple(1 / k for k in range(1, 17)), attack=0.01, decay=0.0, cutoff=2500),
    "bass": dict(h=(1, .5, .3, .2, .1), dark=(1, .2), attack=0.005, decay=0.6),
    "upright": dict(h=(1, .4, .15), dark=(1, .1), attack=0.01, decay=0.4),
    "synthbass": dict(h=tuple(1 / k for k in range(1, 25, 2)), attack=0.005, decay=0.0,
                      cutoff=900),
    "sub": dict(h=(1, .1), attack=0.005, decay=0.9),
    "epiano": dict(fm=(1.0, 1.8), attack=0.003, decay=1.2),
    "vibes": dict(fm=(4.0, 1.2), attack=0.002, decay=0.8),
}
# Drum kits: kick (lowest Hz, decay /s, click), snare (tone Hz, decay /s, tone level),
# hat (decay /s; "ride": a long metallic cymbal).
KITS = {
    "acoustic": dict(kick=(50, 12, 0.3), snare=(190, 20, 0.4), hat=60),
    "brush": dict(kick=(55, 14, 0.1), snare=(0, 10, 0.0), hat=45),
    "disco": dict(kick=(55, 10, 0.2), snare=(0, 16, 0.0), hat=12),
    "808": dict(kick=(45, 3, 0.0), snare=(200, 14, 0.3), hat=90),
    "jazz": dict(kick=(50, 10, 0.1), snare=(0, 9, 0.0), hat="ride"),
    "metal": dict(kick=(60, 20, 1.0), snare=(220, 13, 0.5), hat=35),
}


def _table(harmonics, size=2048):
    """One period of a sum of harmonics, peak-normalized: a wavetable."""
    phase = np.arange(size) / size
    wave = sum(a * np.sin(2 * np.pi * k * phase) for k, a in enumerate(harmonics, 1) if a)
    return (wave / np.abs(wave).max()).astype(np.float32)


_TABLES = {name: (_table(i["h"]), _table(i.get("dark", i["h"])))
           for name, i in INSTRUMENTS.items() if "h" in i}


def _chord(symbol):
    """``'bVImaj7'`` -> (semitones above the key, chord intervals)."""
    flat, numeral, quality = re.fullmatch(r"(b?)([IViv]+)(.*)", symbol).groups()
    if numeral.islower() and quality in ("", "7", "9"):
        quality = "m" + quality
    return ROMAN[numeral.upper()] - len(flat), CHORDS[quality]


def _voice(n, sr, starts, lengths, pitches, velocities, inst, detune=1.0):
    """Render a monophonic line of notes (start s, length s, MIDI pitch, velocity) with one of
    :data:`INSTRUMENTS`, vectorized over samples: each sample carries its note's values."""
    spec = INSTRUMENTS[inst]
    out = np.zeros(n, np.float32)
    first = np.maximum.accumulate(np.clip(np.round(np.asarray(starts) * sr), 0, n).astype(int))
    if first.size == 0 or first[0] >= n:
        return out
    counts = np.diff(np.append(first, n))
    per_sample = lambda values: np.repeat(np.asarray(values, np.float32), counts)
    t = (np.arange(first[0], n, dtype=np.float32) - per_sample(first)) / sr  # since the onset
    freq = per_sample(440.0 * 2 ** ((np.asarray(pitches) - 69) / 12) * detune)
    if spec.get("vibrato"):
        freq *= 1 + spec["vibrato"] * np.sin(np.arange(first[0], n, dtype=np.float32) * (
            2 * np.pi * 5.5 / sr))  # 5.5 Hz
    phase = (np.cumsum(freq, dtype=np.float64) / sr % 1.0).astype(np.float32)
    env = per_sample(velocities) * np.minimum(1, t / spec["attack"])
    env *= np.clip((per_sample(lengths) - t) / 0.02, 0, 1)  # release at the note's end
    if spec["decay"]:
        env *= np.exp(t / -spec["decay"])
    if "fm" in spec:
        ratio, index = spec["fm"]
        mod = index * np.exp(t / (-0.3 * spec["decay"])) * np.sin((2 * np.pi * ratio) * phase)
        wave = np.sin(2 * np.pi * phase + mod)
    else:
        bright, dark = _TABLES[inst]
        i = (phase * bright.size).astype(np.intp) & (bright.size - 1)  # size: a power of 2
        wave = bright[i]
        if spec.get("dark"):  # the upper harmonics die away first
            wave = dark[i] + (wave - dark[i]) * np.exp(t / (-0.25 * spec["decay"]))
    out[first[0]:] = wave * env
    return _lowpass(out, spec["cutoff"], sr) if "cutoff" in spec else out


def _drum(kind, params, sr, rng):
    """A one-shot drum sound: a pitch-swept sine kick, a noise+tone snare, a noise hat, a ride."""
    n = int((1.2 if params == "ride" else 0.4) * sr)
    t = np.arange(n) / sr
    noise = rng.normal(size=n)
    if kind == "kick":
        low, decay, click = params
        freq = low * (1 + 2.5 * np.exp(-t * 35))
        body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t * decay)
        return body + click * noise * np.exp(-t * 400)
    if kind == "snare":
        tone, decay, level = params
        rattle = np.diff(noise, prepend=0) * np.exp(-t * decay)
        return 0.5 * rattle + level * np.sin(2 * np.pi * tone * t) * np.exp(-t * 1.5 * decay)
    hiss = np.diff(noise, n=2, prepend=[0, 0]) / 4
    if params == "ride":
        bell = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (3150, 4270, 5430, 6980))
        return (0.15 * bell + 0.4 * hiss) * np.exp(-t * 3) + 0.5 * hiss * np.exp(-t * 40)
    return 0.6 * hiss * np.exp(-t * params)


def _place(n, times, gains, shot, sr):
    """Mix copies of ``shot`` starting at ``times`` (s), scaled by ``gains``."""
    out = np.zeros(n + shot.size, np.float32)
    for start, gain in zip(np.clip(np.round(np.asarray(times) * sr).astype(int), 0, n), gains):
        if gain:
            out[start:start + shot.size] += gain * shot
    return out[:n]


def _hits(pattern, bars):
    """Global step numbers and velocities of a 16-step pattern repeated over ``bars`` bars."""
    steps = [i for i, c in enumerate(pattern) if c != "."]
    vel = np.tile([1.0 if pattern[i].isupper() else 0.45 for i in steps], bars)
    return (np.arange(bars)[:, None] * 16 + np.array(steps, int)).ravel(), vel


def _legato(times, gate, end):
    """Note lengths: ``gate`` of the time to the next note (the last one runs to ``end``)."""
    return gate * np.diff(np.append(times, end))


def _lowpass(y, hz, sr, order=2):
    return signal.sosfilt(signal.butter(order, min(hz, 0.45 * sr), fs=sr, output="sos"), y)


def _style(genre, rng):
    """The genre's style with this clip's choices: sometimes a part borrowed from another genre,
    one progression and instruments, and jittered mix settings."""
    style = dict(GENRE_STYLES[genre])
    for keys in PARTS.values():
        donor = GENRE_STYLES[GENRES[rng.integers(len(GENRES))]]
        if rng.random() < BORROW:
            style.update({k: donor[k] for k in keys})

    def pick(options):
        return options if isinstance(options, str) else options[rng.integers(len(options))]

    style["prog"] = [_chord(c) for c in pick(style["prog"]).split()]
    style["comp_inst"], style["lead_inst"] = pick(style["comp_inst"]), pick(style["lead_inst"])
    style["mix"] = np.array(style["mix"]) * rng.lognormal(0, 0.3, 4)
    style["bright"] *= rng.lognormal(0, 0.3)
    style["drive"] *= rng.uniform(0.5, 1.5)
    style["room"] = np.clip(style["room"] + rng.normal(0, 0.1), 0, 0.9)
    style["swing"] = np.clip(style["swing"] + rng.normal(0, 0.1), 0, 1)
    return style


def synthesize_clip(genre, index, duration=30.0, sr=SR, seed=0):
    """Clip ``index`` of ``genre`` as float32 samples in [-1, 1]; the same arguments always give
    the same samples (the generator is seeded by (seed, genre, index))."""
    if genre not in GENRES:
        raise ValueError(f"unknown genre {genre!r}; the genres are {', '.join(GENRES)}")
    rng = np.random.default_rng([seed, GENRES.index(genre), index])
    s = _style(genre, rng)
    n = int(round(duration * sr))
    key = int(rng.integers(12))
    step = 60 / rng.uniform(*s["tempo"]) / 4  # a 16th note, in seconds
    bars = int(np.ceil(duration / (16 * step))) + 1

    def when(steps):
        """Start times of global steps: swung off-beats (8ths and 16ths), slight human jitter."""
        steps = np.asarray(steps)
        late = np.where(steps % 4 == 2, 2 / 3, np.where(steps % 2 == 1, 1 / 3, 0))
        return steps * step + s["swing"] * late * step + rng.normal(0, 0.004, steps.shape)

    # drums
    drums = np.zeros(n)
    if s["kit"]:
        for kind in ("kick", "snare", "hat"):
            steps, vel = _hits(s[kind], bars)
            vel = vel * rng.uniform(0.75, 1.0, vel.size) * (rng.random(vel.size) > 0.04)
            drums += _place(n, when(steps), vel, _drum(kind, KITS[s["kit"]][kind], sr, rng), sr)

    # harmony: one chord per bar, in root position from ``comp_low`` up
    roots = [(key + s["prog"][b % len(s["prog"])][0]) % 12 for b in range(bars + 1)]
    chords = [s["prog"][b % len(s["prog"])][1] for b in range(bars)]
    steps, vel = _hits(s["comp"], bars)
    times = when(steps)
    lengths = _legato(times, s["comp_gate"], bars * 16 * step)
    comp = np.zeros(n)
    for v in range(4):  # one monophonic line per chord tone
        on = [i for i, st in enumerate(steps) if len(chords[st // 16]) > v]
        base = [s["comp_low"] + (roots[steps[i] // 16] - s["comp_low"]) % 12 for i in on]
        pitch = [b + chords[steps[i] // 16][v] for b, i in zip(base, on)]
        comp += _voice(n, sr, times[on], lengths[on], pitch, vel[on], s["comp_inst"],
                       1 + rng.normal(0, 0.002))
    if s["drive"]:  # distortion: drive a normalized signal into tanh
        comp = np.tanh(s["drive"] * comp / (np.abs(comp).max() + 1e-9))

    # bass line
    token = {"1": 0, "5": 7, "6": 9, "8": 12}
    steps = np.array([b * 16 + i for b in range(bars) for i, c in enumerate(s["bass"]) if c != "."])
    pitch = []
    for st in steps:
        c, chord, root = s["bass"][st % 16], chords[st // 16], roots[st // 16]
        interval = {"3": chord[1] if chord[1] < 7 else 4, "7": chord[3] if len(chord) > 3 else 10,
                    "w": (roots[st // 16 + 1] - root - 1) % 12}.get(c, token.get(c, 0))
        pitch.append(33 + root + interval)
    times = when(steps)
    bass = _voice(n, sr, times, _legato(times, 0.9, bars * 16 * step), pitch,
                  rng.uniform(0.8, 1.0, len(steps)), s["bass_inst"], 1 + rng.normal(0, 0.002))

    # lead: a random-walk melody in the genre's scale, or an arpeggio of the chords
    scale = SCALES[s["scale"]]
    if s["lead"] == "arp":
        steps = np.arange(0, bars * 16, 2 if rng.random() < 0.5 else 1)
        order = np.array([0, 1, 2, 3, 4, 3, 2, 1])[steps % 8]
        pitch = [48 + 12 * (o // 3) + roots[st // 16] + chords[st // 16][o % 3]
                 for st, o in zip(steps, order)]
        pitch = [p + 12 * (p < 60) for p in pitch]
    else:
        steps = np.flatnonzero(rng.random(bars * 8) < s["density"]) * 2
        walk = np.cumsum(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3], steps.size))
        span = 2 * len(scale)
        degree = span - np.abs(walk % (2 * span) - span)  # folded into two octaves
        pitch = 60 + key % 12 - 12 * (key > 6) + 12 * (degree // len(scale)) + \
            np.array(scale)[degree % len(scale)]
    times = when(steps)
    lead = _voice(n, sr, times, _legato(times, 0.85, bars * 16 * step), pitch,
                  rng.uniform(0.6, 1.0, len(steps)), s["lead_inst"], 1 + rng.normal(0, 0.003))
    if s["drive"] and s["lead_inst"] == "guitar":
        lead = np.tanh(s["drive"] * lead / (np.abs(lead).max() + 1e-9))

    # mix: levels, brightness, a room (a few decaying echoes), noise; then peak-normalize
    parts = [drums, bass, comp, lead]
    y = sum(m * p / (np.sqrt(np.mean(p ** 2)) + 1e-9) for m, p in zip(s["mix"], parts))
    y = _lowpass(y, s["bright"], sr)
    wet = 0.5 * _lowpass(y, 3000, sr, order=1)
    for d, g in zip(rng.uniform(0.02, 0.25, 6), s["room"] * 0.6 ** np.arange(6)):
        k = int(d * sr)
        y[k:] += g * wet[:n - k]
    y /= np.abs(y).max() + 1e-9
    y += rng.uniform(0.003, 0.03) * rng.normal(size=n)
    return (0.89 * y / np.abs(y).max()).astype(np.float32)


def _clip_path(dest, genre, index):
    return Path(dest) / "genres" / genre / f"{genre}.{index:05d}.wav"


def _write_clip(dest, genre, index, duration, sr, seed):
    """Synthesize one clip and write it atomically (a hidden temporary name, then a rename)."""
    import soundfile as sf

    path = _clip_path(dest, genre, index)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    sf.write(tmp, synthesize_clip(genre, index, duration, sr, seed), sr, subtype="PCM_16",
             format="WAV")
    os.replace(tmp, path)


def _read_marker(marker):
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def _write_marker(marker, params, complete):
    text = json.dumps({
        "what": "Genre Lab's embedded sample set: procedurally synthesized clips in GTZAN's "
                "layout, for running the course offline. Not GTZAN, and not real music.",
        "generator": "data_scripts.synthetic", "version": VERSION, "complete": complete,
        "params": params}, indent=2) + "\n"
    tmp = marker.with_name(".SYNTHETIC.part")
    tmp.write_text(text)
    os.replace(tmp, marker)


def make_synthetic(dest=None, clips_per_genre=20, duration=30.0, sr=SR, seed=0,
                   overwrite=False, jobs=None):
    """Write the sample set into ``dest`` (default ``data/synthetic`` under the project root, or
    under ``GENRELAB_DATA_DIR``) and return ``dest``.

    A re-run with the marker's parameters only writes clips that are missing (none, normally);
    other parameters, or ``overwrite``, regenerate the set. A folder holding audio but no marker
    is not ours: it is left alone unless ``overwrite``. ``jobs`` processes share the work (default:
    the available cores)."""
    if dest is None:
        from genrelab.dataset import data_dir

        dest = data_dir() / "synthetic"
    dest = Path(dest)
    if clips_per_genre < 1 or duration <= 0:
        raise ValueError("clips_per_genre must be at least 1 and duration positive")
    params = {"seed": int(seed), "clips_per_genre": int(clips_per_genre),
              "duration": float(duration), "sr": int(sr)}
    marker = dest / "SYNTHETIC"
    old = _read_marker(marker) if marker.is_file() else None
    genre_dirs = [dest / "genres" / g for g in GENRES]
    ours = re.compile(rf"^({'|'.join(GENRES)})\.\d{{5}}\.wav$")
    if old is None and not overwrite and any(
            f.is_file() for d in genre_dirs if d.is_dir() for f in d.iterdir()):
        raise FileExistsError(f"{dest} holds audio but no SYNTHETIC marker; not overwriting it "
                              "(pass overwrite=True / --overwrite to replace it)")
    same = bool(old) and old.get("version") == VERSION and old.get("params") == params
    clips = [(g, i) for g in GENRES for i in range(clips_per_genre)]
    if same and not overwrite:
        todo = [c for c in clips if not _clip_path(dest, *c).is_file()]
        if not todo and old.get("complete"):
            return dest
    else:
        todo = clips
    keep = {_clip_path(dest, *c).name for c in clips}
    for d in genre_dirs:  # stale clips of another set, and temporary files of interrupted runs
        d.mkdir(parents=True, exist_ok=True)
        for f in d.iterdir():
            if (ours.match(f.name) and f.name not in keep) or f.name.endswith(".part"):
                f.unlink()
    _write_marker(marker, params, complete=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = min(jobs or cores or 1, max(len(todo), 1))
    args = [(dest, g, i, duration, sr, seed) for g, i in todo]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_write_clip, *zip(*args), chunksize=4))
    else:
        for a in args:
            _write_clip(*a)
    _write_marker(marker, params, complete=True)
    return dest


def add_arguments(parser):
    parser.add_argument("--dest", type=Path,
                        help="output folder (default: data/synthetic under the project)")
    parser.add_argument("--clips-per-genre", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per clip")
    parser.add_argument("--sr", type=int, default=SR, help="sample rate (Hz)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, help="processes (default: the available cores)")
    parser.add_argument("--overwrite", action="store_true", help="regenerate every clip")


def main(args):
    start = time.perf_counter()
    dest = make_synthetic(args.dest, args.clips_per_genre, args.duration, args.sr, args.seed,
                          args.overwrite, args.jobs)
    print(f"sample set: {args.clips_per_genre} clips x {len(GENRES)} genres x {args.duration:g} s "
          f"in {dest} ({time.perf_counter() - start:.1f} s)")
