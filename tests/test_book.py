"""The book: its table of contents lists only pages that exist and have content, and it builds
offline with every warning an error (``jupyter-book build --all -W -n``), executing each chapter
on the data set present, into HTML pages that carry the chapter titles and their figures.

The build trains the chapters' models (a few minutes on 2 cores). It uses the prepared data set
the book would use on this machine; where none is prepared, the embedded sample set of
``conftest.py``. The build is the session fixture ``built_book`` of ``conftest.py``, shared with
the browser test (``test_browser.py``); its time is printed in the test summary. The pages
expected are those ``_toc.yml`` lists, with the titles of ``KNOWN_TITLES``.

The repository URL is set in one place, ``_config.yml``'s ``repository.url``: pages take it from
there (MyST substitutions of ``book/_ext/genrelab_book.py``), and a chapter links its exercise by
a relative path (a download link in the built book). The build serves its own MathJax
(``_static/mathjax``), never a CDN's.
"""
import html as html_text
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = {"book/01_sound": "sound", "book/02_features": "features", "book/03_mlp": "mlp",
             "book/05_rnn": "rnn"}
# Links in a page's prose: Markdown's [text](target) and MyST's {download}`text <target>` (the
# build copies the target, so the link resolves in the built site as in the repository).
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)|\{download\}`[^`<]*<([^>`]+)>`")
# Titles of the pages the course has (or is writing); the pages expected in the build are those
# _toc.yml lists. A listed page missing here must have a "# Title" line, which is then expected.
KNOWN_TITLES = {"book/intro": "Genre Lab", "book/setup": "Setup",
                "book/01_sound": "Sound and its visualization",
                "book/02_features": "MFCCs and audio features",
                "book/03_mlp": "The multilayer perceptron",
                "book/05_rnn": "Recurrent networks",
                "book/evaluation": "Honest evaluation"}
REQUIRED = {"book/intro", "book/setup", "book/03_mlp", "book/evaluation"}  # must be in the toc
FIGURES = {"book/01_sound": 10, "book/02_features": 9,
           "book/03_mlp": 4,  # variance histograms, two sets of training curves, a confusion matrix
           # a segment, states in order and backwards, two sets of training curves, a confusion matrix
           "book/05_rnn": 5,
           # protocols, interval width against n, 20 track splits, segment against song
           "book/evaluation": 4}


def toc_files():
    """The pages of _toc.yml, in order (``book/intro``, ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        files += [chapter["file"] for chapter in part["chapters"]]
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in files]


def title_in_source(page):
    match = re.search(r"^# (.+?)\s*$", text_of(source_of(page)), re.M)
    return match and match.group(1)


def expected_title(page):
    return KNOWN_TITLES.get(page) or title_in_source(page)


PAGES = toc_files()  # the pages to check in the build


def source_of(page):
    matches = [p for p in (ROOT / f"{page}.md", ROOT / f"{page}.ipynb") if p.is_file()]
    assert len(matches) == 1, f"{page}: expected one of {page}.md or {page}.ipynb"
    return matches[0]


def text_of(path):
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
    return path.read_text()


def markdown_of(path):
    """The prose of a page: a Markdown file, or a notebook's Markdown cells."""
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                         if c["cell_type"] == "markdown")
    return path.read_text()


def repository_url():
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def test_toc_lists_existing_pages_with_content():
    pages = toc_files()
    assert REQUIRED <= set(pages), f"_toc.yml lacks {sorted(REQUIRED - set(pages))}"
    for page in pages:
        text = text_of(source_of(page))
        assert len(text.split()) > 300, f"{page} is (nearly) empty: the toc lists written pages only"
        assert re.search(r"^# \S", text, re.M), f"{page} has no title"
        if page in KNOWN_TITLES:
            assert title_in_source(page) == KNOWN_TITLES[page], f"{page}: unexpected title"


def test_chapter_notebooks_are_committed_without_outputs():
    for page in toc_files():
        path = source_of(page)
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), (
                f"{path.name} has outputs: the book executes it at build time")


def test_pages_take_the_repository_url_from_the_config_and_link_exercises_relatively():
    url = repository_url()
    for page in toc_files():
        path = source_of(page)
        text = markdown_of(path)
        assert url not in text, (f"{page} types the repository URL: use {{{{ repository_url }}}} "
                                 "(or {{ clone_command }}), set from _config.yml's repository.url")
        assert not re.search(r"(?<![(<])https?://\S*exercises/", text), f"{page}: a bare exercise URL"
        targets = [t for pair in LINK.findall(text) for t in pair if "exercises/" in t]
        for target in targets:
            assert "://" not in target, f"{page}: exercise link {target} is not a relative link"
            assert (path.parent / target).resolve().is_file(), f"{page}: {target} does not exist"
        if page in EXERCISES:
            name = EXERCISES[page]
            assert f"../exercises/{name}/{name}.ipynb" in targets, f"{page} does not link its exercise"


@pytest.mark.slow
def test_book_builds_without_warnings(built_book):
    done, html, used, seconds = built_book
    print(f"book built on '{used}' in {seconds:.0f} s")
    log = done.stdout[-8000:] + "\n" + done.stderr[-8000:]
    assert done.returncode == 0, f"book build on '{used}' failed:\n{log}"
    assert "build succeeded" in done.stdout, log
    assert (html / "index.html").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_pages_have_titles_and_figures(built_book, page):
    html, used = built_book.html, built_book.used
    path = html / f"{page}.html"
    assert path.is_file(), f"{page}.html was not built"
    text = path.read_text()
    title = expected_title(page)
    assert title and title in re.sub(r"<.*?>", "", text), f"{page}: title {title!r} missing"
    assert "Traceback" not in text, f"{page}: a cell raised an error while building on '{used}'"
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', text)
    figures = [src for src in images if "_images/" in src]
    assert len(figures) >= FIGURES.get(page, 0), f"{page}: {len(figures)} figures, expected more"
    for src in figures:
        assert (path.parent / src).resolve().is_file(), f"{page}: figure {src} missing"


@pytest.mark.slow
def test_chapter_shows_reference_results_and_launch_buttons(built_book):
    text = (built_book.html / "book" / "03_mlp.html").read_text()
    plain = re.sub(r"<.*?>", "", text)
    assert "Recorded reference results" in plain
    recorded = ROOT / "autograder" / "results" / "mlp.json"
    if recorded.is_file() and json.loads(recorded.read_text()).get("runs"):
        assert "genrelab.mlp.honest_mlp" in plain and "95% interval (seeds)" in plain
    else:
        assert "No reference results are recorded yet" in plain
    assert "colab.research.google.com/github/genre-lab/genre-lab/blob/main/book/03_mlp.ipynb" in text
    assert "mybinder.org/v2/gh/genre-lab/genre-lab/main" in text


@pytest.mark.slow
def test_pages_load_the_builds_own_mathjax_and_show_the_configured_clone_command(built_book):
    html = built_book.html
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not in the build"
    assert list((html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    with_math = 0
    for page in PAGES:
        text = (html / f"{page}.html").read_text()
        scripts = re.findall(r'<script[^>]*\bsrc="([^"]*mathjax[^"]*)"', text, re.I)
        assert all("://" not in src for src in scripts), f"{page} loads MathJax from {scripts}"
        for src in scripts:
            assert (html / page).parent.joinpath(src.split("?")[0]).resolve().is_file(), src
        if 'class="math' in text:
            with_math += 1
            assert scripts, f"{page} has math but loads no MathJax"
    assert with_math, "no page has math: the MathJax check checked nothing"
    setup = html_text.unescape(re.sub(r"<.*?>", "", (html / "book" / "setup.html").read_text()))
    assert f"git clone {repository_url()}" in setup, "the Setup page's clone command"
    assert "{{" not in setup, "an unresolved MyST substitution on the Setup page"
