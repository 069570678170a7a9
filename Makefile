# Set-up and checks for keras_audioattn. Every target creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-test
DEMO_OUT ?= demo_output
PYTEST_WORKERS ?= 2

export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install test test-quick demo bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstall when the package metadata changes. The JAX backend (a CPU wheel) joins the test
# matrix (tests/test_backends.py); PyTorch joins it where it is installed (.ci/run installs it).
$(STAMP): $(VENV)/bin/python setup.cfg pyproject.toml
	$(PIP) install --quiet -e ".[test,jax]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --durations=15 $(PYTEST_ARGS)

# The quick local loop: every test but those marked large (tests/conftest.py's LARGE_TESTS).
test-quick: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not large" --durations=15 $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m keras_audioattn.demo --out $(DEMO_OUT)

bench: $(STAMP)
	$(PIP) install --quiet -e ".[test,bench]"
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache build *.egg-info
