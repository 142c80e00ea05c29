# Genre Lab: the two commands of the README, and the steps they are made of.
#   make course   set up, get data (GTZAN if present, else the embedded sample set), prepare it,
#                 build the book, generate the exercises, run a demo grading
#   make test     set up and run the tests (then the backend-sensitive ones again on JAX)
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)  # nbgrader runs alembic from PATH
# One stamp per checkout: the editable install points at this folder.
STAMP := $(VENV)/.genrelab-installed$(subst /,_,$(CURDIR))

.PHONY: course test setup data exercises book demo clean publish publish-only
course: setup data exercises book demo

# The tests, then the reference-run and grading tests again on Keras' JAX backend (CPU JAX):
# the GPU recipe (Keras 3 on JAX, no TensorFlow) is tested on every change. (The class-grading
# tests that run nbgrader, test_end_to_end and test_class_workflow, run once, on TensorFlow:
# they add minutes, and their backend-dependent parts -- training and evaluating models -- are
# what these two files test.)
JAX_TESTS := tests/test_reference.py tests/test_autograder.py
test: setup
	$(PY) -m pytest -ra
	KERAS_BACKEND=jax JAX_PLATFORMS=cpu $(PY) -m pytest -ra $(JAX_TESTS)

setup: $(STAMP)
$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

data: setup
	$(PY) -c "from genrelab.dataset import find_audio_root; find_audio_root()" 2>/dev/null \
	  || $(PY) -m data_scripts synthetic
	$(PY) -m data_scripts prepare

# One student version per source notebook folder in solutions/ (nbgrader_config.py: source
# solutions/ -> release exercises/).
exercises: setup
	for assignment in $$(ls solutions); do \
	  $(VENV)/bin/nbgrader generate_assignment $$assignment --force || exit 1; done

book: setup
	$(VENV)/bin/jupyter-book build --all -W -n --keep-going .

# The book online: `make publish` builds the book, then `make publish-only` pushes _build/html
# to the gh-pages branch of REMOTE (a remote's name or a repository's path; default origin) with
# ghp-import: -n adds .nojekyll (GitHub Pages then serves _static/ as it is), -f replaces the
# branch. The published address is _config.yml's html.baseurl, the only place it is written.
REMOTE ?= origin
publish: book
	$(MAKE) --no-print-directory publish-only REMOTE='$(REMOTE)'

publish-only:
	@test -f _build/html/index.html \
	  || { echo "error: no book in _build/html: run make book (or make publish)" >&2; exit 1; }
	$(VENV)/bin/ghp-import -n -p -f -r '$(REMOTE)' -b gh-pages \
	  -m "The book, built from $$(git rev-parse --short HEAD 2>/dev/null || echo 'an uncommitted tree')" \
	  _build/html
	@echo "pushed _build/html to the gh-pages branch of $(REMOTE); GitHub Pages serves it at" \
	  "$$($(PY) -c "import yaml; print(yaml.safe_load(open('_config.yml'))['html']['baseurl'])")"

demo: setup
	$(PY) -m autograder demo

clean:
	rm -rf _build course
