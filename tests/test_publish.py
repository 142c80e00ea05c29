"""``make publish`` = ``make book`` + ``make publish-only``; the second pushes ``_build/html`` to
the ``gh-pages`` branch of ``REMOTE`` with ghp-import. Tested on a throw-away copy of the project's
Makefile and ``_config.yml`` with a stand-in ``_build/html``, pushing to a bare repository in a
temporary folder: never the project's own remotes, never its git state, no book build."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          timeout=60).stdout


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A git repository holding the Makefile, _config.yml and a built-looking _build/html."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    if not (VENV / "bin" / "ghp-import").is_file():
        pytest.fail(f"ghp-import is not installed in {VENV}: make setup")
    for key, value in {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.org",
                       "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.org",
                       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}.items():
        monkeypatch.setenv(key, value)
    work = tmp_path / "project"
    work.mkdir()
    for name in ("Makefile", "_config.yml"):
        shutil.copy(ROOT / name, work / name)
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "Makefile", "_config.yml", cwd=work)
    git("commit", "-q", "-m", "the project", cwd=work)
    site = work / "_build" / "html"
    (site / "_static").mkdir(parents=True)
    (site / "index.html").write_text("<!DOCTYPE html><title>Genre Lab</title>the book\n")
    (site / "_static" / "style.css").write_text("body { color: #222; }\n")
    return work


def make(work, *args):
    return subprocess.run(["make", "--no-print-directory", "-C", str(work), f"VENV={VENV}",
                           *args], capture_output=True, text=True, timeout=120)


def test_publish_only_pushes_the_built_book_to_gh_pages(project, tmp_path):
    bare = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(bare))
    done = make(project, "publish-only", f"REMOTE={bare}")
    assert done.returncode == 0, done.stdout + done.stderr
    head = git("rev-parse", "--short", "HEAD", cwd=project).strip()
    log = git("--git-dir", str(bare), "log", "--format=%s", "gh-pages")
    assert log.splitlines() == [f"The book, built from {head}"]
    assert "the book" in git("--git-dir", str(bare), "show", "gh-pages:index.html")
    files = set(git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "gh-pages").split())
    assert files == {".nojekyll", "index.html", "_static/style.css"}
    # the address it names is the one in _config.yml, which derives it from repository.url
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["html"]["baseurl"] in done.stdout
    owner, name = config["repository"]["url"].rstrip("/").split("/")[-2:]
    assert config["html"]["baseurl"] == f"https://{owner}.github.io/{name}/"

    # publishing again replaces the site (a page that is gone disappears from gh-pages)
    (project / "_build" / "html" / "_static" / "style.css").unlink()
    again = make(project, "publish-only", f"REMOTE={bare}")
    assert again.returncode == 0, again.stdout + again.stderr
    files = set(git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "gh-pages").split())
    assert files == {".nojekyll", "index.html"}
    assert git("--git-dir", str(bare), "branch", "--list").split() == ["gh-pages"]


def test_publish_only_without_a_built_book_says_so(project, tmp_path):
    shutil.rmtree(project / "_build")
    bare = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(bare))
    done = make(project, "publish-only", f"REMOTE={bare}")
    assert done.returncode != 0 and "no book in _build/html: run make book" in done.stderr
    assert git("--git-dir", str(bare), "branch", "--list") == ""


def test_publish_builds_the_book_first():
    """``make publish`` runs ``make book`` and then ``publish-only`` (dry run: nothing built)."""
    done = subprocess.run(["make", "-n", "-C", str(ROOT), "publish", "REMOTE=nowhere"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    build = next(i for i, line in enumerate(lines) if "jupyter-book build --all -W -n" in line)
    push = next(i for i, line in enumerate(lines) if "publish-only" in line)
    assert build < push and "REMOTE='nowhere'" in lines[push]
