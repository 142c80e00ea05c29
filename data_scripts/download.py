"""``python -m data_scripts download``: GTZAN and the fault-filtered split lists.

GTZAN's ``genres.tar.gz`` is fetched from each mirror in turn into ``<dest>/downloads/`` (resumed
with HTTP ``Range`` after an interruption, md5-checked), then extracted safely into
``<dest>/gtzan/genres/<genre>/<genre>.000NN.au``: built in a hidden folder beside it and renamed
into place, so an interrupted run never leaves a tree that looks complete. A marker file in
``genres/`` records where the clips came from (the archive's verified md5), which makes a second
run a no-op. ``--from-kaggle-folder`` installs a Kaggle ``genres_original/`` folder instead.
The Kereliuk, Sturm & Larsen (2015) fault-filtered split lists go to
``<dest>/splits/kereliuk_sturm/``, sha256-checked. ``<dest>`` is ``data/`` unless
``GENRELAB_DATA_DIR`` or ``--dest`` says otherwise. Expected failures raise
:class:`DownloadError` with a one-line message; nothing complete is ever deleted.
"""
import hashlib
import http.client
import json
import posixpath
import re
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError

from tqdm import tqdm

from genrelab import GENRES

ARCHIVE = "genres.tar.gz"
GTZAN_MD5 = "5b3d6dddb579ab49814ab86dba69e7c7"
GTZAN_MIRRORS = (
    "https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz",
    "http://opihi.cs.uvic.ca/sound/genres.tar.gz",
)
CLIPS_PER_GENRE = 100
MARKER = ".genrelab-source.json"

SPLITS_URL = ("https://raw.githubusercontent.com/coreyker/dnn-mgr/"
              "bdad579ea6cb37b665ea6019fe1026a6ce20cbc7/gtzan/")
SPLIT_SHA256 = {
    "train_filtered.txt": "2b04966cef1486f1a7767b74271533fa23e220388db804a1937835e1fc4fa3fa",
    "valid_filtered.txt": "f8fbee7c52397a0e0f3a91dc54fedecb2e27f5bdc9a9daeab8cb10d077e26956",
    "test_filtered.txt": "09cafa6a89ce0a27f30ed250d56ecb4d03c22fffb5a693f96c7ae655ee02ac72",
}

TIMEOUT = 60  # seconds a socket may wait for the server
ATTEMPTS = 5  # tries per mirror, as long as each one gets further than the last
CHUNK = 1 << 16
HEADERS = {"User-Agent": "genrelab-download/0.1"}
_CLIP = re.compile(r"^([a-z]+)\.\d{5}\.(au|wav)$")


class DownloadError(RuntimeError):
    """An expected failure (network, checksum, unsafe archive, wrong folder); one-line message."""


def resolve_dest(dest=None):
    """``dest``, else ``GENRELAB_DATA_DIR``, else ``data/`` under the project root."""
    from genrelab.dataset import data_dir

    return Path(dest) if dest else data_dir()


def gtzan_dir(dest):
    return Path(dest) / "gtzan" / "genres"


def split_dir(dest):
    return Path(dest) / "splits" / "kereliuk_sturm"


def file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def clip_files(folder):
    """``{genre: [paths]}`` of the GTZAN-named clips (``<genre>/<genre>.000NN.au|wav``)."""
    folder = Path(folder)
    return {g: sorted(p for p in (folder / g).glob(f"{g}.*")
                      if (m := _CLIP.match(p.name)) and m.group(1) == g) for g in GENRES}


def clip_counts(folder):
    return {g: len(files) for g, files in clip_files(folder).items()}


def installed_record(target):
    """The marker of an installed tree whose clips are all still there, else None."""
    try:
        record = json.loads((Path(target) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("clips") == clip_counts(target) else None


def _already_installed(target, wanted):
    """True when ``target`` holds a tree ``wanted(record)`` accepts; raises when something else
    is there (it is never overwritten or deleted)."""
    record = installed_record(target)
    if record and wanted(record):
        print(f"{target} already holds {sum(record['clips'].values())} clips from "
              f"{record['source']}; nothing to do")
        return True
    if target.exists():
        what = f"clips from {record['source']}" if record else "files not installed by this script"
        raise DownloadError(f"{target} already exists ({what}); move it away and run again")
    return False


def _install(target, source, fill, **extra):
    """Build the tree with ``fill(tmp) -> tree`` in a hidden folder beside ``target``, write the
    marker, and rename the tree into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-staging-") as tmp:
        tree = fill(Path(tmp))
        clips = clip_counts(tree)
        (tree / MARKER).write_text(json.dumps({"source": source, **extra, "clips": clips},
                                              indent=2) + "\n")
        tree.rename(target)
    return clips


# -- the archive -------------------------------------------------------------------------------

def _size(path):
    return path.stat().st_size if path.exists() else 0


def _transfer(url, part):
    """Append what is missing of ``url`` to ``part`` (from zero if the server ignores Range)."""
    have = _size(part)
    headers = {**HEADERS, "Range": f"bytes={have}-"} if have else HEADERS
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=TIMEOUT)
    except HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the checksum decides
            return
        raise
    with response:
        if response.status != 206:  # a fresh start, or a server ignoring Range: from zero
            have = 0
        elif not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            raise OSError(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else None
        with open(part, "ab" if have else "wb") as out, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                     desc=ARCHIVE, disable=None) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and _size(part) != total:
        raise ConnectionError(f"connection closed after {_size(part)} of {total} bytes")


def _from_mirror(url, part):
    """None once ``part`` holds the verified archive, else why not."""
    for _ in range(ATTEMPTS):
        before = _size(part)
        try:
            _transfer(url, part)
        except HTTPError as err:
            return f"HTTP {err.code} {err.reason}"
        except (OSError, http.client.HTTPException) as err:
            reason = f"transfer failed ({err})"
            if _size(part) > before:
                continue  # it got further: resume
            return reason
        digest = file_digest(part, "md5")
        if digest == GTZAN_MD5:
            return None
        part.unlink()
        return f"md5 {digest} is not {GTZAN_MD5}"
    return f"{reason}, {ATTEMPTS} attempts"


def download_archive(dest, mirrors=None):
    """``<dest>/downloads/genres.tar.gz``, md5-verified, downloaded from the first mirror that
    works unless already there; raises :class:`DownloadError` naming each mirror's failure."""
    folder = Path(dest) / "downloads"
    final, part = folder / ARCHIVE, folder / f"{ARCHIVE}.part"
    if final.is_file() and file_digest(final, "md5") == GTZAN_MD5:
        return final
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in mirrors or GTZAN_MIRRORS:
        print(f"downloading {url}")
        reason = _from_mirror(url, part)
        if reason is None:
            part.replace(final)
            return final
        failures.append(f"{url}: {reason}")
    raise DownloadError(f"no mirror gave a good {ARCHIVE}: " + "; ".join(failures))


def _unsafe(member):
    """Why extracting this tar member could write outside the destination, or None."""
    name = member.name
    if member.issym():
        link = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
    else:
        link = posixpath.normpath(member.linkname) if member.islnk() else ""
    if name.startswith("/") or ".." in PurePosixPath(name).parts:
        return "path outside the destination"
    if link.startswith("/") or link == ".." or link.startswith("../"):
        return f"link to {member.linkname!r} outside the destination"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return "device or special file"
    return None


def _safe_members(tar):
    for member in tar:
        if why := _unsafe(member):
            raise DownloadError(f"unsafe member {member.name!r} in the archive ({why}); "
                                "nothing installed")
        yield member


def extract_archive(archive, dest, md5):
    """Extract ``archive`` (whose verified ``md5`` the marker records) into ``<dest>/gtzan/genres``,
    which it must fill completely (100 clips per genre)."""
    def fill(tmp):
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, members=_safe_members(tar), **safe)
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise DownloadError(f"{archive} cannot be extracted ({err})") from err
        short = {g: n for g, n in clip_counts(tmp / "genres").items() if n != CLIPS_PER_GENRE}
        if short:
            raise DownloadError(f"{archive} does not hold {CLIPS_PER_GENRE} clips per genre under "
                                f"genres/ (found {short}); nothing installed")
        return tmp / "genres"

    print(f"extracting {archive}")
    _install(gtzan_dir(dest), Path(archive).name, fill, md5=md5)
    return gtzan_dir(dest)


def download_gtzan(dest=None, mirrors=None):
    """GTZAN in ``<dest>/gtzan/genres``: downloaded, verified and extracted unless already there."""
    dest = resolve_dest(dest)
    target = gtzan_dir(dest)
    if not _already_installed(target, lambda record: record.get("md5") == GTZAN_MD5):
        extract_archive(download_archive(dest, mirrors), dest, GTZAN_MD5)
        print(f"GTZAN: {len(GENRES) * CLIPS_PER_GENRE} clips in {target}")
    return target


# -- a Kaggle folder ---------------------------------------------------------------------------

def import_kaggle_folder(folder, dest=None, link=False):
    """Copy (or symlink, with ``link``) a Kaggle ``genres_original/`` folder, or the folder that
    holds it, into ``<dest>/gtzan/genres``."""
    folder = Path(folder).expanduser()
    if (folder / "genres_original").is_dir():
        folder = folder / "genres_original"
    if not folder.is_dir():
        raise DownloadError(f"{folder} is not a folder")
    clips = clip_files(folder)
    missing = [g for g, files in clips.items() if not files]
    if missing:
        raise DownloadError(f"{folder} is not a Kaggle genres_original/ folder: no "
                            f"<genre>/<genre>.000NN.wav clips for {', '.join(missing)}")
    target = gtzan_dir(resolve_dest(dest))
    if _already_installed(target, lambda record: True):
        return target

    def fill(tmp):
        for genre, files in clips.items():
            (tmp / "genres" / genre).mkdir(parents=True)
            for src in files:
                dst = tmp / "genres" / genre / src.name
                dst.symlink_to(src.resolve()) if link else shutil.copy2(src, dst)
        return tmp / "genres"

    counts = _install(target, f"Kaggle folder {folder.resolve()}", fill)
    print(f"{'linked' if link else 'copied'} into {target}: "
          + ", ".join(f"{g} {n}" for g, n in counts.items()))
    if set(counts.values()) != {CLIPS_PER_GENRE}:
        print(f"warning: GTZAN has {CLIPS_PER_GENRE} clips per genre; this copy is partial")
    return target


# -- the split lists ---------------------------------------------------------------------------

def _read(source):
    if isinstance(source, Path):
        return source.read_bytes()
    with urllib.request.urlopen(urllib.request.Request(source, headers=HEADERS),
                                timeout=TIMEOUT) as response:
        return response.read()


def fetch_split_lists(dest, base_urls=None, local_dir=None):
    """The three fault-filtered lists in ``<dest>/splits/kereliuk_sturm``, each sha256-checked:
    copied from ``local_dir`` if given, else fetched from the first of ``base_urls`` that works."""
    out = split_dir(dest)
    out.mkdir(parents=True, exist_ok=True)
    for name, sha256 in SPLIT_SHA256.items():
        final = out / name
        if final.is_file() and file_digest(final, "sha256") == sha256:
            continue
        sources = ([Path(local_dir) / name] if local_dir else
                   [url.rstrip("/") + "/" + name for url in base_urls or [SPLITS_URL]])
        failures = []
        for source in sources:
            try:
                data = _read(source)
            except (OSError, http.client.HTTPException) as err:
                failures.append(f"{source}: {err}")
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest == sha256:
                part = final.with_name(name + ".part")
                part.write_bytes(data)
                part.replace(final)
                break
            failures.append(f"{source}: sha256 {digest} is not {sha256}")
        else:
            raise DownloadError(f"could not get {name} ({'; '.join(failures)}); "
                                "--splits-from DIR copies the lists from a local folder")
    print(f"split lists: {', '.join(SPLIT_SHA256)} in {out}")
    return out


# -- command line ------------------------------------------------------------------------------

def add_arguments(parser):
    parser.add_argument("--dest", type=Path,
                        help="data folder (default: $GENRELAB_DATA_DIR or data/)")
    parser.add_argument("--mirror", action="append", metavar="URL",
                        help="URL of genres.tar.gz to try, in turn (repeatable; replaces the "
                             "built-in mirrors)")
    parser.add_argument("--from-kaggle-folder", type=Path, metavar="PATH",
                        help="install a Kaggle genres_original/ folder instead of downloading")
    parser.add_argument("--link", action="store_true",
                        help="with --from-kaggle-folder: symlink the clips instead of copying")
    parser.add_argument("--splits-from", type=Path, metavar="DIR",
                        help="copy the three *_filtered.txt split lists from DIR")


def main(args):
    dest = resolve_dest(args.dest)
    if args.from_kaggle_folder:
        import_kaggle_folder(args.from_kaggle_folder, dest, link=args.link)
    else:
        download_gtzan(dest, args.mirror)
    fetch_split_lists(dest, local_dir=args.splits_from)
    return 0
