"""The command lines wire up: every subcommand answers --help, and the data path works from
the shell (synthetic -> prepare) with errors as one clear line."""
import os
import subprocess
import sys

import pytest

from data_scripts.__main__ import COMMANDS


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_data_scripts_subcommands_answer_help(command):
    result = run("data_scripts", command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


def test_synthetic_then_prepare_from_the_shell(tmp_path):
    env = {"GENRELAB_DATA_DIR": str(tmp_path), "GENRELAB_AUDIO": str(tmp_path / "synthetic")}
    made = run("data_scripts", "synthetic", "--clips-per-genre", "1", "--duration", "4", env=env)
    assert made.returncode == 0, made.stderr
    prepared = run("data_scripts", "prepare", "--workers", "1", env=env)
    assert prepared.returncode == 0, prepared.stderr
    assert "prepared 10 of 10 clips of 'synthetic'" in prepared.stdout
    assert (tmp_path / "prepared" / "synthetic" / "features_30_sec.csv").is_file()


def test_prepare_without_audio_is_one_clear_line(tmp_path):
    result = run("data_scripts", "prepare", "--audio", str(tmp_path),
                 env={"GENRELAB_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
