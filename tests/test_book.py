"""The book: its table of contents lists only pages that exist and have content, and it builds
offline with every warning an error (``jupyter-book build --all -W -n``), executing each chapter
on the data set present, into HTML pages that carry the chapter titles and their figures.

The build trains the chapters' models (a few minutes on 2 cores). It uses the prepared data set
the book would use on this machine; where none is prepared, the embedded sample set of
``conftest.py``. The build is the session fixture ``built_book`` of ``conftest.py``, shared with
the browser tests below; its time is printed in the test summary. The pages
expected are those ``_toc.yml`` lists, with the titles of ``KNOWN_TITLES``.

The repository URL is set in one place, ``_config.yml``'s ``repository.url``: pages take it from
there (MyST substitutions of ``book/_ext/genrelab_book.py``), and a chapter links its exercise by
a relative path (a download link in the built book). The build serves its own MathJax
(``_static/mathjax``), never a CDN's.

**In a browser.** The built book in a real browser: every page of ``_toc.yml``, served on localhost and loaded
in headless Chromium (Debian's ``chromium`` and ``chromium-driver`` packages, driven by
Selenium), renders its title, loads every image, can play every ``<audio>`` element, has no
broken internal link or ``#fragment``, and logs no console error. A page with math must have it
typeset by the build's own MathJax (``_static/mathjax``, never a CDN): once MathJax is done, no
raw TeX delimiter (``\\(``, ``\\)``, ``\\[``, ``\\]``, ``$$``) may be left in the visible text. The
browser has no network (every host but the local server fails to resolve), so this is the
offline reading of the book.

It uses the same build, ``built_book``: the browser tests live in this file so that they run on
the pytest-xdist worker that builds the book, never waiting for a build on another. A
full-page screenshot of each page is saved in ``$GENRELAB_ARTIFACTS`` (default:
``_build/screenshots/`` under the project, which git ignores) as ``book__<page>.png``.

Where Chromium, its driver or Selenium is missing the tests skip, except when
``GENRELAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs the packages), where that is a
failure. ``GENRELAB_CHROMIUM`` and ``GENRELAB_CHROMEDRIVER`` override the binaries' paths.
"""
import base64
import functools
import html as html_text
import http.server
import json
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = {"book/01_sound": "sound", "book/02_features": "features", "book/03_mlp": "mlp",
             "book/05_rnn": "rnn", "book/06_crnn": "crnn", "book/07_autoencoders": "autoencoder"}
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
                "book/06_crnn": "Convolutional recurrent networks",
                "book/07_autoencoders": "Autoencoders: recreating and creating music",
                "book/evaluation": "Honest evaluation"}
REQUIRED = {"book/intro", "book/setup", "book/03_mlp", "book/evaluation"}  # must be in the toc
FIGURES = {"book/01_sound": 10, "book/02_features": 9,
           "book/03_mlp": 4,  # variance histograms, two sets of training curves, a confusion matrix
           # a segment, states in order and backwards, two sets of training curves, a confusion matrix
           "book/05_rnn": 5,
           # a segment and its pooled input, two sets of training curves, augmented examples
           "book/06_crnn": 4,
           # inversions, three reconstructions, codes' projection, an interpolation, VAE samples
           "book/07_autoencoders": 5,
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


# The book in a browser

CHROMIUM = os.environ.get("GENRELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = (os.environ.get("GENRELAB_CHROMEDRIVER") or shutil.which("chromedriver")
                or "/usr/bin/chromedriver")
MAX_SHOT_HEIGHT = 30000  # px: Chromium's limit for one capture is a little above this
LOAD_TIMEOUT = 30  # s, for a page's images and audio
MATHJAX_TIMEOUT = 15  # s, for MathJax to load and start (local files: well under a second)
RAW_TEX = ("\\(", "\\)", "\\[", "\\]", "$$")  # what a formula MathJax did not typeset shows


def artifacts_dir():
    folder = Path(os.environ.get("GENRELAB_ARTIFACTS") or ROOT / "_build" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for(condition, timeout=LOAD_TIMEOUT, interval=0.2):
    """Poll ``condition()`` until it is truthy (returned) or ``timeout`` passes (last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="session")  # session: checked before the (session) book build
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = ("no browser to test the book in: missing " + ", ".join(missing)
                   + " (apt-get install chromium chromium-driver; pip install selenium)")
        if os.environ.get("GENRELAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (GENRELAB_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--mute-audio", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     # Offline and fast: every host but the local server fails at once (the
                     # pages' CDN scripts, such as MathJax, would otherwise wait for a timeout).
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(LOAD_TIMEOUT)
    yield driver
    driver.quit()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(browser, built_book):
    """``http://127.0.0.1:<port>``, serving the built book's ``_build/html``."""
    if built_book.done.returncode != 0:
        pytest.fail(f"the book did not build on '{built_book.used}' (see test_book.py)")
    handler = functools.partial(QuietHandler, directory=str(built_book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@functools.lru_cache(maxsize=None)
def fetch(url):
    """``(status, text)`` of a URL of the local server."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            kind = response.headers.get_content_type()
            return response.status, body.decode("utf-8", "replace") if kind == "text/html" else ""
    except urllib.error.HTTPError as err:
        return err.code, ""


def has_anchor(html, fragment):
    fragment = re.escape(urllib.request.unquote(fragment))
    return re.search(rf"""\b(id|name)=["']{fragment}["']""", html) is not None


IMAGES_JS = """
return Array.from(document.images).map(img => {
  img.loading = 'eager';
  return {src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth};
});"""

AUDIO_JS = """
return Array.from(document.querySelectorAll('audio')).map(audio => {
  const source = audio.currentSrc || audio.src ||
      (audio.querySelector('source') || {}).src || '';
  const type = (audio.querySelector('source') || {}).type || audio.getAttribute('type') || '';
  const guessed = {wav: 'audio/wav', mp3: 'audio/mpeg', ogg: 'audio/ogg', opus: 'audio/ogg',
                   flac: 'audio/flac', m4a: 'audio/mp4'};
  const extension = (source.match(/\\.(\\w+)(?:[?#]|$)/) || [])[1];
  const mime = type || (source.match(/^data:([^;,]+)/) || [])[1] || guessed[extension] || '';
  if (audio.readyState === 0 && !audio.dataset.loadRequested) {
    audio.dataset.loadRequested = '1';
    audio.preload = 'metadata';
    audio.load();
  }
  return {source: source.slice(0, 80), mime: mime, canPlay: mime ? audio.canPlayType(mime) : '',
          readyState: audio.readyState, duration: audio.duration,
          error: audio.error ? audio.error.code : null};
});"""

MATH_JS = """
const requested = performance.getEntriesByType('resource').map(entry => entry.name);
return {
  formulas: document.querySelectorAll('.math').length,
  scripts: Array.from(document.scripts).map(s => s.src).filter(src => /mathjax/i.test(src)),
  requested: requested.filter(name => /mathjax/i.test(name)),
  started: !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise),
  typeset: document.querySelectorAll('mjx-container').length,
};"""

TYPESET_JS = """
const done = arguments[arguments.length - 1];
window.MathJax.startup.promise.then(() => done(null), error => done(String(error)));"""

# The text a reader sees: text nodes that are rendered, less code blocks and inline code (a code
# cell may well print a backslash or a dollar sign) and MathJax's hidden MathML copy.
VISIBLE_TEXT_JS = """
const skip = 'pre, code, script, style, textarea, mjx-assistive-mml';
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const parts = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (parent && !parent.closest(skip) && parent.getClientRects().length) parts.push(node.data);
}
return parts.join(' ');"""


def math_problems(driver, site):
    """What is wrong with a page's math: MathJax missing, loaded from outside the build, not
    started or failing, formulas left untypeset, raw TeX delimiters visible. A page without
    math (no ``.math`` element) has nothing to check."""
    state = driver.execute_script(MATH_JS)
    if not state["formulas"]:
        return []
    problems = []
    if not state["scripts"]:
        problems.append(f"{state['formulas']} formulas, but no MathJax script on the page")
    problems += [f"MathJax loaded from outside the build: {url}"
                 for url in sorted(set(state["scripts"] + state["requested"]))
                 if not url.startswith(site + "/")]
    if wait_for(lambda: driver.execute_script(MATH_JS)["started"], timeout=MATHJAX_TIMEOUT):
        error = driver.execute_async_script(TYPESET_JS)
        if error:
            problems.append(f"MathJax failed: {error}")
    else:
        problems.append(f"MathJax did not start within {MATHJAX_TIMEOUT} s "
                        f"(scripts: {', '.join(state['scripts']) or 'none'})")
    typeset = driver.execute_script(MATH_JS)["typeset"]
    if typeset < state["formulas"]:
        problems.append(f"{typeset} of {state['formulas']} formulas typeset by MathJax")
    text = driver.execute_script(VISIBLE_TEXT_JS)
    for delimiter in RAW_TEX:
        at = text.find(delimiter)
        if at >= 0:
            context = " ".join(text[max(0, at - 40):at + 60].split())
            problems.append(f"raw TeX visible ({delimiter}): ...{context}...")
    return problems


def full_page_screenshot(driver, path):
    """The whole page as one PNG: the viewport is stretched to the page's height (at the
    window's width, so the layout stays the one a reader sees), captured, then restored."""
    driver.execute_script("window.scrollTo(0, 0)")
    width, height = driver.execute_script(
        "return [window.innerWidth, Math.max(document.documentElement.scrollHeight,"
        " document.body.scrollHeight)]")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": min(height, MAX_SHOT_HEIGHT), "deviceScaleFactor": 1,
        "mobile": False})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


# Console errors that are not the book's: each is matched exactly, so any other error fails.
KNOWN_CONSOLE_ERRORS = (
    # Jupyter Book 1.0.4's Sphinx stack (sphinx-thebe 0.3.1) writes its inline thebe settings
    # twice into every page; the second copy throws. Thebe (live code) is not enabled here.
    "Identifier 'THEBE_JS_URL' has already been declared",
    # pydata-sphinx-theme, on a browser's first visit (no light/dark choice stored yet).
    "Got invalid theme mode: . Resetting to auto.",
)


def console_errors(driver, site):
    """SEVERE entries of the browser's console, less :data:`KNOWN_CONSOLE_ERRORS`. Failed
    requests for resources outside the local server (a CDN script, with no network) are left
    out: the test runs offline. So is the browser's own request for ``/favicon.ico``, which no
    page links to."""
    errors = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE" or any(k in entry["message"] for k in KNOWN_CONSOLE_ERRORS):
            continue
        if entry["message"].startswith(f"{site}/favicon.ico "):
            continue
        urls = re.findall(r"https?://[^\s\"']+", entry["message"])
        if "net::ERR_" in entry["message"] and urls and not urls[0].startswith(site):
            continue
        errors.append(entry["message"])
    return errors


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_a_browser(browser, site, page):
    url = f"{site}/{page}.html"
    browser.get_log("browser")  # start with an empty console log
    browser.get(url)
    wait_for(lambda: browser.execute_script("return document.readyState") == "complete")
    problems = []

    # The title: the page's first <h1>, without its "#" permalink.
    heading = browser.execute_script(
        "const h = document.querySelector('main h1, article h1, h1');"
        "return h ? h.textContent : null;")
    title = expected_title(page)
    if heading is None or title not in heading:
        problems.append(f"title: expected {title!r}, the page's h1 is {heading!r}")

    # Images: every one loaded, and at least the chapter's figures among them.
    wait_for(lambda: all(i["complete"] for i in browser.execute_script(IMAGES_JS)))
    images = browser.execute_script(IMAGES_JS)
    problems += [f"image not loaded: {i['src'][:100]}" for i in images
                 if not i["complete"] or i["width"] == 0]
    figures = [i for i in images if "/_images/" in i["src"] and i["width"] > 0]
    if len(figures) < FIGURES.get(page, 0):
        problems.append(f"{len(figures)} figures shown, expected at least {FIGURES[page]}")

    # Audio: a source the browser can play, whose metadata (a finite duration) it reads.
    wait_for(lambda: all(a["readyState"] >= 1 or a["error"] for a in browser.execute_script(AUDIO_JS)))
    audio = browser.execute_script(AUDIO_JS)
    for a in audio:
        duration = a["duration"]
        if (not a["canPlay"] or a["error"] or a["readyState"] < 1
                or not isinstance(duration, (int, float)) or duration <= 0):
            problems.append(f"audio not playable: {a}")

    # Internal links: every same-origin target answers 200, and its #fragment exists there.
    hrefs = browser.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);")
    page_html = fetch(url)[1]
    checked = set()
    for href in hrefs:
        if not href.startswith(site + "/") or href in checked:
            continue
        checked.add(href)
        target, fragment = urldefrag(href)
        status, html = fetch(target) if target != url else (200, page_html)
        if status != 200:
            problems.append(f"broken link: {urlsplit(href).path} (HTTP {status})")
        elif fragment and html and not has_anchor(html, fragment):
            problems.append(f"missing anchor: {urlsplit(target).path}#{fragment}")

    # Math: typeset offline by the build's own MathJax, no raw TeX left visible.
    problems += math_problems(browser, site)

    problems += [f"console error: {message}" for message in console_errors(browser, site)]

    shot = full_page_screenshot(browser, artifacts_dir() / f"{page.replace('/', '__')}.png")
    print(f"{page}: {len(images)} images ({len(figures)} figures), {len(audio)} audio, "
          f"{len(checked)} internal links; screenshot {shot}")
    assert not problems, f"{page} ({url}):\n  " + "\n  ".join(problems)
