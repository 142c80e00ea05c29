# Genre Lab: the two commands of the README, and the steps they are made of.
#   make course   set up, get data (GTZAN if present, else the embedded sample set), prepare it,
#                 build the book, generate the exercises, run a demo grading
#   make test     set up and run the tests (then the backend-sensitive ones again on JAX)
#   make student-release   what students receive, in _build/student-release: exercises, library,
#                 data scripts, their check tool; no solutions, hidden tests or data
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)  # nbgrader runs alembic from PATH
# One stamp per checkout: the editable install points at this folder.
STAMP := $(VENV)/.genrelab-installed$(subst /,_,$(CURDIR))

.PHONY: course test setup sandbox data exercises book demo clean publish publish-only student-release
course: setup sandbox data exercises book demo

# The tests, then the reference-run, model-evaluation and musicnn-port tests again on Keras' JAX
# backend (CPU JAX): the GPU recipe (Keras 3 on JAX, no TensorFlow) is tested on every change.
# The port's test still needs TensorFlow in that pass, to read the TF1 checkpoint and to run the
# original extractor; the port it makes runs on JAX. (The tests that run nbgrader -- marked
# `nbgrader`, and test_class_workflow and test_class_attacks -- run once, on TensorFlow: they add
# minutes, and their backend-dependent parts -- training and evaluating models -- are what the
# JAX pass tests.)
# The test files run on TEST_WORKERS pytest-xdist workers (default 2: CI's cores), each file on
# one worker, so that a file's fixtures are made once (tests/conftest.py shares the sample set
# and the book build between workers). With as many workers as cores, each process's
# TensorFlow gets one thread per op pool (TEST_THREADS): pools as wide as the machine in every
# worker would compete for the same cores, and two trainings side by side run slower.
JAX_TESTS := tests/test_reference.py tests/test_autograder.py tests/test_transfer.py
TEST_WORKERS ?= 2
TEST_THREADS ?= 1
TEST_ENV := TF_NUM_INTRAOP_THREADS=$(TEST_THREADS) TF_NUM_INTEROP_THREADS=$(TEST_THREADS)
test: setup sandbox
	$(TEST_ENV) $(PY) -m pytest -ra -n $(TEST_WORKERS) --dist loadfile
	$(TEST_ENV) KERAS_BACKEND=jax JAX_PLATFORMS=cpu $(PY) -m pytest -ra -n $(TEST_WORKERS) --dist loadfile -m "not nbgrader" $(JAX_TESTS)

setup: $(STAMP)
$(STAMP): requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The grader runs every student's notebook in a bubblewrap sandbox (autograder/sandbox.py):
# Debian's bubblewrap, installed here when missing (as root, or with sudo).
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  echo "installing bubblewrap (the grader's sandbox)"; s=""; [ "$$(id -u)" -eq 0 ] || s=sudo; \
	  $$s apt-get install -y -qq bubblewrap >/dev/null 2>&1 \
	  || { $$s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -qq bubblewrap; }; }
	-$(PY) -m autograder.sandbox check  # says why when it cannot work here (grading then needs --unsafe)

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

student-release: setup exercises
	$(PY) -m data_scripts student-release

clean:
	rm -rf _build course
