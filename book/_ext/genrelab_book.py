"""The book's own Sphinx extension (``_config.yml`` -> ``sphinx.local_extensions``).

1. **MathJax offline.** The pages' math is typeset by MathJax, which Sphinx loads from a CDN by
   default -- and a reader without internet then sees raw ``\\(...\\)``. The course installs
   MathJax 3 from PyPI (``django-static-mathjax`` ships its release files; only the files are
   used, not Django) and this extension copies the part the pages need into the build's
   ``_static/mathjax/``: ``tex-chtml.js``, its fonts and the TeX extensions, the menu and the
   accessibility components it loads on demand, and MathJax's licence. ``_config.yml`` points
   ``mathjax_path`` at ``mathjax/tex-chtml.js`` (relative to ``_static``).
2. **The repository URL in one place.** ``_config.yml``'s ``repository.url`` (and ``branch``) is
   the course's public home, used by the repository and launch buttons. This extension makes it
   available to the pages as MyST substitutions: ``{{ repository_url }}``, ``{{ repository_link }}``
   (a link to it), ``{{ repository_branch }}``, ``{{ repository_name }}`` (the folder ``git
   clone`` makes) and ``{{ clone_command }}`` (a ``bash`` block: clone, enter, ``make course``).
"""
import shutil
from importlib import resources
from pathlib import Path

from sphinx.errors import ExtensionError

# What of MathJax's es5/ folder the pages use: the combined TeX-to-CommonHTML component, its
# fonts, the TeX packages it autoloads, and the components its menu loads when a reader asks.
MATHJAX_FILES = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui",
                 "a11y", "sre")


def mathjax_source():
    """The folder of MathJax 3's release files (``es5/``), from the installed package."""
    try:
        root = Path(str(resources.files("mathjax"))) / "static" / "mathjax"
    except ModuleNotFoundError:
        root = None
    if root is None or not (root / "es5" / "tex-chtml.js").is_file():
        raise ExtensionError("MathJax is not installed: pip install -r requirements.txt -c "
                             "constraints.txt (the package django-static-mathjax ships it)")
    return root


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    root = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for name in MATHJAX_FILES:
        source, destination = root / "es5" / name, target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(source, destination)
    shutil.copy2(root / "LICENSE", target / "LICENSE")


def add_repository_substitutions(app, config):
    options = config.html_theme_options or {}
    url = (options.get("repository_url") or "").rstrip("/")
    if not url:
        raise ExtensionError("_config.yml sets no repository.url: the course's public home")
    branch = options.get("repository_branch") or "main"
    name = url.rsplit("/", 1)[-1].removesuffix(".git")
    values = {
        "repository_url": url,
        "repository_link": f"[`{url}`]({url})",
        "repository_branch": branch,
        "repository_name": name,
        "clone_command": f"```bash\ngit clone {url}\ncd {name}\n"
                         "make course   # or step by step, below\n```",
    }
    config.myst_substitutions = {**values, **(config.myst_substitutions or {})}


def setup(app):
    mathjax_source()  # fail at once, not after executing every chapter
    app.connect("config-inited", add_repository_substitutions)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
