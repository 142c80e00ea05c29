"""Finding clips in every GTZAN layout, and bad audio turned into clear errors."""
import numpy as np
import pytest

from genrelab import audio, dataset
from helpers import tone_clip, write_clip


def test_index_reads_au_wav_and_opus_layouts(tmp_path):
    y = tone_clip(seconds=3.5)
    write_clip(tmp_path / "a" / "genres" / "blues" / "blues.00000.au", y, format="AU",
               subtype="PCM_16")
    write_clip(tmp_path / "b" / "genres_original" / "jazz" / "jazz.00001.wav", y)
    write_clip(tmp_path / "c" / "genres" / "rock" / "rock.00002.opus",
               np.interp(np.arange(int(3.5 * 48000)) * 22050 / 48000, np.arange(y.size), y),
               sr=48000, format="OGG", subtype="OPUS")
    (tmp_path / "a" / "genres" / "blues" / "notes.txt").write_text("not a clip")
    for sub, track, fmt in (("a", "blues.00000", "au"), ("b", "jazz.00001", "wav"),
                            ("c", "rock.00002", "opus")):
        index = dataset.index_audio(tmp_path / sub)
        assert list(index.track_id) == [track] and list(index.format) == [fmt]
        clip = audio.load_clip(index.path[0])
        assert clip.dtype == np.float32 and abs(clip.size - 3.5 * 22050) < 2000


def test_index_of_an_empty_folder_says_what_to_run(tmp_path):
    with pytest.raises(dataset.DataNotFound, match="no GTZAN-named clips"):
        dataset.index_audio(tmp_path)


def test_same_clip_in_two_formats_is_an_error(tmp_path):
    for ext in ("wav", "au"):
        write_clip(tmp_path / "genres" / "pop" / f"pop.00003.{ext}", tone_clip(3.5),
                   format=ext.upper())
    with pytest.raises(ValueError, match="more than one format"):
        dataset.index_audio(tmp_path)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"RIFF\x00\x00garbage" * 50), "cannot be decoded"),
    (lambda p: write_clip(p, tone_clip(seconds=1.0)), "only 1.00 s"),
    (lambda p: write_clip(p, np.zeros(4 * 22050, np.float32)), "silent"),
    (lambda p: None, "no such file"),
])
def test_bad_clips_raise_audio_error_naming_the_file(tmp_path, make, message):
    path = tmp_path / "jazz.00054.wav"
    make(path)
    with pytest.raises(audio.AudioError, match=message) as err:
        audio.load_clip(path)
    assert "jazz.00054.wav" in str(err.value)


def test_truncated_file_is_reported(tmp_path):
    """An interrupted copy (its header says 5 s, 0.45 s of audio are left) is an AudioError that
    names the file and says what is wrong, never a short clip passed on."""
    path = write_clip(tmp_path / "disco.00007.wav", tone_clip(seconds=5.0))
    path.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(audio.AudioError, match=r"^disco\.00007\.wav: only 0\.45 s of audio"):
        audio.load_clip(path)


def test_bandlimit_removes_content_above_the_cutoff():
    t = np.arange(22050 * 2) / 22050
    y = (np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 10000 * t)).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(audio.bandlimit(y, 22050, 8000)))
    assert spectrum[20000] < 0.01 * spectrum[2000]   # 10 kHz gone, 1 kHz kept


def test_data_dir_and_audio_root_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GENRELAB_AUDIO", str(tmp_path / "nowhere"))
    assert dataset.data_dir() == tmp_path
    with pytest.raises(dataset.DataNotFound, match="python -m data_scripts"):
        dataset.find_audio_root()
    with pytest.raises(dataset.DataNotFound, match="prepare"):
        dataset.load_table("30s", name="synthetic")
