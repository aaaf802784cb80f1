# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lock test demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

# Re-resolve every dependency in a scratch environment and pin what pip chose.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[test]'
	head -3 requirements.lock > requirements.lock.new
	.venv-lock/bin/python -m pip freeze --exclude-editable >> requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf .venv-lock

# Two workers, one test file each at a time (module fixtures such as a Ray instance stay
# with their file): most of a test's wall time is spent waiting on Ray and subprocesses.
# The files with slow tests are handed out first (tests/conftest.py), quick ones fill the end.
test: install
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=10

demo: install
	$(VENV)/bin/mtsweep run taskonomy-pairs --preset smoke

bench: install
	$(PY) bench/run_all.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf runs .pytest_cache
