# ppo_ref: every target creates .venv with the machine's python3 if it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test smoke train clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

## test: unit tests, gradient checks, property tests and the Humanoid regression test
test: $(STAMP)
	$(PY) -m pytest tests property_tests

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
