# Genre Lab: the two commands of the README, and the steps they are made of.
#   make course   set up, get data (GTZAN if present, else the embedded sample set), prepare it,
#                 build the book, generate the exercises, run a demo grading
#   make test     set up and run the tests (then the backend-sensitive ones again on JAX)
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)  # nbgrader runs alembic from PATH
# One stamp per checkout: the editable install points at this folder.
STAMP := $(VENV)/.genrelab-installed$(subst /,_,$(CURDIR))

.PHONY: course test setup data exercises book demo clean
course: setup data exercises book demo

# The tests, then the reference-run and grading tests again on Keras' JAX backend (CPU JAX):
# the GPU recipe (Keras 3 on JAX, no TensorFlow) is tested on every change.
JAX_TESTS := tests/test_reference.py tests/test_autograder.py tests/test_end_to_end.py
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

demo: setup
	$(PY) -m autograder demo

clean:
	rm -rf _build course
