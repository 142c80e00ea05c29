"""The GTZAN downloader against a local HTTP server on 127.0.0.1 serving a small fake archive:
mirrors, resume, checksums, safe extraction, Kaggle folders, split lists. Nothing leaves the
machine."""
import argparse
import gzip
import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from data_scripts import download as dl
from genrelab import GENRES

CLIPS = 3  # per genre in the fake archive (GTZAN has 100)
CUT = 200  # bytes a "cut" route sends before closing the connection on its first request
REAL_SPLIT_SHA256 = dict(dl.SPLIT_SHA256)  # before the tests replace it
SPLITS = {name: f"{name}: blues/blues.00029.wav\n".encode() for name in dl.SPLIT_SHA256}


def tar_gz(members):
    """gzip'd tar of ``(TarInfo, bytes or None)`` pairs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data) if data else None)
    return gzip.compress(buf.getvalue(), mtime=0)


def clip_members(clips=range(CLIPS)):
    return [(tarfile.TarInfo(f"genres/{g}/{g}.{i:05d}.au"), f"{g}{i}".encode())
            for g in GENRES for i in clips]


def special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


@pytest.fixture(scope="module")
def archive():
    return tar_gz(clip_members())


@pytest.fixture(autouse=True)
def fake_gtzan(monkeypatch, archive):
    monkeypatch.setattr(dl, "GTZAN_MD5", hashlib.md5(archive).hexdigest())
    monkeypatch.setattr(dl, "CLIPS_PER_GENRE", CLIPS)
    monkeypatch.setattr(dl, "SPLIT_SHA256",
                        {name: hashlib.sha256(data).hexdigest() for name, data in SPLITS.items()})
    monkeypatch.setattr(dl, "GTZAN_MIRRORS", ())  # a test that forgets --mirror fails offline
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def server():
    """``routes[path] = (bytes, mode)``, mode ``range`` (honours Range), ``norange`` (ignores it)
    or ``cut`` (the first request gets CUT bytes, then the connection closes); ``log`` lists
    ``(path, Range header)`` of each request."""
    routes, log = {}, []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked = self.headers.get("Range")
            log.append((self.path, asked))
            if self.path not in routes:
                return self.send_error(404)
            data, mode = routes[self.path]
            start = int(asked[len("bytes="):-1]) if asked and mode != "norange" else 0
            if start >= len(data) > 0:
                return self.send_error(416)
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            first = [p for p, _ in log].count(self.path) == 1
            self.wfile.write(data[start:CUT] if mode == "cut" and first else data[start:])

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield SimpleNamespace(routes=routes, log=log,
                          url=lambda path: f"http://127.0.0.1:{httpd.server_port}{path}")
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


def assert_installed(dest):
    genres = dest / "gtzan" / "genres"
    assert sorted(p.name for p in genres.iterdir()) == sorted([*GENRES, dl.MARKER])
    assert (genres / "jazz" / "jazz.00002.au").read_bytes() == b"jazz2"
    assert dl.installed_record(genres)["md5"] == dl.GTZAN_MD5
    assert dl.clip_counts(genres) == {g: CLIPS for g in GENRES}
    assert files_under(dest / "downloads") == ["genres.tar.gz"]
    assert [p.name for p in (dest / "gtzan").iterdir()] == ["genres"]  # no staging left


def test_download_extracts_and_a_second_run_does_nothing(server, archive, tmp_path, capsys):
    server.routes["/genres.tar.gz"] = (archive, "range")
    mirrors = [server.url("/genres.tar.gz")]
    assert dl.download_gtzan(tmp_path, mirrors) == tmp_path / "gtzan" / "genres"
    assert_installed(tmp_path)
    assert server.log == [("/genres.tar.gz", None)]
    capsys.readouterr()
    dl.download_gtzan(tmp_path, mirrors)
    assert "nothing to do" in capsys.readouterr().out
    assert len(server.log) == 1


def test_an_interrupted_transfer_resumes_with_range(server, archive, tmp_path):
    server.routes["/genres.tar.gz"] = (archive, "cut")
    dl.download_gtzan(tmp_path, [server.url("/genres.tar.gz")])
    assert server.log == [("/genres.tar.gz", None), ("/genres.tar.gz", f"bytes={CUT}-")]
    assert_installed(tmp_path)


@pytest.mark.parametrize("mode", ["range", "norange"])
def test_a_part_left_by_an_earlier_run_is_resumed_or_restarted(server, archive, tmp_path, mode):
    """A server ignoring Range answers 200 with the whole file: written from zero, not appended."""
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "genres.tar.gz.part").write_bytes(archive[:CUT])
    server.routes["/genres.tar.gz"] = (archive, mode)
    dl.download_gtzan(tmp_path, [server.url("/genres.tar.gz")])
    assert server.log == [("/genres.tar.gz", f"bytes={CUT}-")]
    assert_installed(tmp_path)


def test_a_complete_part_is_accepted_on_416(server, archive, tmp_path):
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "genres.tar.gz.part").write_bytes(archive)
    server.routes["/genres.tar.gz"] = (archive, "range")
    dl.download_gtzan(tmp_path, [server.url("/genres.tar.gz")])
    assert server.log == [("/genres.tar.gz", f"bytes={len(archive)}-")]
    assert_installed(tmp_path)


def test_a_bad_checksum_falls_back_to_the_next_mirror(server, archive, tmp_path):
    server.routes["/bad/genres.tar.gz"] = (archive[:-1] + b"x", "range")
    server.routes["/good/genres.tar.gz"] = (archive, "range")
    dl.download_gtzan(tmp_path, [server.url("/bad/genres.tar.gz"),
                                 server.url("/good/genres.tar.gz")])
    assert [path for path, _ in server.log] == ["/bad/genres.tar.gz", "/good/genres.tar.gz"]
    assert_installed(tmp_path)


def test_when_every_mirror_fails_nothing_is_kept(server, archive, tmp_path):
    server.routes["/bad/genres.tar.gz"] = (archive[:-1] + b"x", "range")
    mirrors = [server.url("/bad/genres.tar.gz"), server.url("/missing/genres.tar.gz")]
    with pytest.raises(dl.DownloadError) as err:
        dl.download_gtzan(tmp_path, mirrors)
    message = str(err.value)
    assert "\n" not in message
    assert f"{mirrors[0]}: md5" in message and f"{mirrors[1]}: HTTP 404" in message
    assert files_under(tmp_path) == []


def test_an_existing_tree_is_never_replaced(server, archive, tmp_path):
    mine = tmp_path / "gtzan" / "genres" / "blues" / "mine.au"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"mine")
    server.routes["/genres.tar.gz"] = (archive, "range")
    with pytest.raises(dl.DownloadError, match="already exists"):
        dl.download_gtzan(tmp_path, [server.url("/genres.tar.gz")])
    assert server.log == [] and mine.read_bytes() == b"mine"


UNSAFE = {  # members that would write outside the destination, given the test's tmp_path
    "dotdot": lambda tmp: [(tarfile.TarInfo("genres/../../evil"), b"x")],
    "absolute": lambda tmp: [(tarfile.TarInfo(str(tmp / "evil")), b"x")],
    "symlink-escape": lambda tmp: [special("genres/out", tarfile.SYMTYPE, "../../.."),
                                   (tarfile.TarInfo("genres/out/evil"), b"x")],
    "symlink-absolute": lambda tmp: [special("genres/out", tarfile.SYMTYPE, str(tmp))],
    "hardlink": lambda tmp: [special("genres/hard", tarfile.LNKTYPE, "../outside")],
    "device": lambda tmp: [special("genres/dev", tarfile.CHRTYPE)],
}


@pytest.mark.parametrize("kind", UNSAFE)
def test_an_unsafe_archive_installs_nothing(tmp_path, kind):
    archive = tmp_path / "genres.tar.gz"
    archive.write_bytes(tar_gz(clip_members() + UNSAFE[kind](tmp_path)))
    with pytest.raises(dl.DownloadError, match="unsafe member"):
        dl.extract_archive(archive, tmp_path / "dest", "md5")
    assert files_under(tmp_path) == ["genres.tar.gz"]
    assert not (tmp_path / "dest" / "gtzan" / "genres").exists()


def test_an_incomplete_archive_installs_nothing(tmp_path):
    archive = tmp_path / "genres.tar.gz"
    archive.write_bytes(tar_gz(clip_members(range(CLIPS - 1))))
    with pytest.raises(dl.DownloadError, match=f"does not hold {CLIPS} clips"):
        dl.extract_archive(archive, tmp_path, "md5")
    assert files_under(tmp_path) == ["genres.tar.gz"]


def kaggle_folder(root, genres=GENRES):
    for g in genres:
        (root / "genres_original" / g).mkdir(parents=True)
        for i in range(2):
            (root / "genres_original" / g / f"{g}.{i:05d}.wav").write_bytes(f"{g}{i}".encode())
    (root / "genres_original" / "blues" / "notes.txt").write_text("not a clip")
    return root / "genres_original"


@pytest.mark.parametrize("link", [False, True])
def test_a_kaggle_folder_is_installed(tmp_path, capsys, link):
    folder = kaggle_folder(tmp_path / "Data")
    genres = dl.import_kaggle_folder(tmp_path / "Data", tmp_path / "dest", link=link)
    out = capsys.readouterr().out
    assert "blues 2, classical 2" in out and "partial" in out
    clip = genres / "jazz" / "jazz.00001.wav"
    assert clip.read_bytes() == b"jazz1" and clip.is_symlink() == link
    assert not (genres / "blues" / "notes.txt").exists()
    assert dl.installed_record(genres)["source"] == f"Kaggle folder {folder.resolve()}"
    dl.import_kaggle_folder(folder, tmp_path / "dest")
    assert "nothing to do" in capsys.readouterr().out


def test_a_wrong_kaggle_folder_is_refused(tmp_path):
    folder = kaggle_folder(tmp_path, genres=["blues", "jazz"])
    with pytest.raises(dl.DownloadError, match="no <genre>/<genre>.000NN.wav clips for classical"):
        dl.import_kaggle_folder(folder, tmp_path / "dest")
    with pytest.raises(dl.DownloadError, match="is not a folder"):
        dl.import_kaggle_folder(tmp_path / "nowhere", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_split_lists_are_fetched_and_checked(server, tmp_path):
    for name, data in SPLITS.items():
        server.routes[f"/good/{name}"] = (data, "range")
        server.routes[f"/tampered/{name}"] = (data + b"rock/rock.00000.wav\n", "range")
    out = dl.fetch_split_lists(tmp_path, [server.url("/missing/"), server.url("/good")])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == SPLITS
    assert out == tmp_path / "splits" / "kereliuk_sturm"
    requests = len(server.log)
    dl.fetch_split_lists(tmp_path, [server.url("/good")])
    assert len(server.log) == requests  # already there
    with pytest.raises(dl.DownloadError, match="could not get train_filtered.txt .*sha256"):
        dl.fetch_split_lists(tmp_path / "other", [server.url("/tampered/")])
    assert files_under(tmp_path / "other") == []


def test_split_lists_are_copied_from_a_local_folder(tmp_path):
    for name, data in SPLITS.items():
        (tmp_path / "lists" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "lists" / name).write_bytes(data)
    out = dl.fetch_split_lists(tmp_path / "dest", local_dir=tmp_path / "lists")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == SPLITS
    (tmp_path / "lists" / "test_filtered.txt").write_bytes(b"tampered\n")
    with pytest.raises(dl.DownloadError, match="could not get test_filtered.txt"):
        dl.fetch_split_lists(tmp_path / "other", local_dir=tmp_path / "lists")


def test_the_split_checksums_are_those_of_the_upstream_lists(real_gtzan):
    folder = real_gtzan / "reference" / "splits_kereliuk_sturm_filtered"
    assert {name: dl.file_digest(folder / name, "sha256") for name in REAL_SPLIT_SHA256} \
        == REAL_SPLIT_SHA256


def run_cli(*argv):
    """``python -m data_scripts download ARGV`` as wired by ``data_scripts/__main__.py``."""
    parser = argparse.ArgumentParser()
    dl.add_arguments(parser.add_subparsers().add_parser("download"))
    return dl.main(parser.parse_args(["download", *argv]))


def test_the_command_line(server, archive, tmp_path, monkeypatch):
    server.routes["/genres.tar.gz"] = (archive, "range")
    for name, data in SPLITS.items():
        (tmp_path / "lists" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "lists" / name).write_bytes(data)
    monkeypatch.setenv("GENRELAB_DATA_DIR", str(tmp_path / "data"))
    assert run_cli("--mirror", server.url("/genres.tar.gz"), "--splits-from",
                   str(tmp_path / "lists")) == 0
    assert_installed(tmp_path / "data")
    splits = files_under(tmp_path / "data" / "splits")
    assert splits == sorted(f"kereliuk_sturm/{name}" for name in SPLITS)
    # expected failures are RuntimeErrors: __main__ prints their one line and exits 1
    with pytest.raises(RuntimeError, match="^no mirror gave a good genres.tar.gz: .*HTTP 404"):
        run_cli("--dest", str(tmp_path / "other"), "--mirror", server.url("/missing.tar.gz"))
