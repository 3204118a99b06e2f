# ppo_ref: every target creates .venv with the machine's python3 if it is missing
# and installs the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Training needs only the runtime dependencies; the tests add the test extra. Every
# install takes the exact versions of constraints.txt (the committed figures' versions).
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
MUTATION_STAMP := $(VENV)/.installed-mutation
RUN_STAMP := $(shell date +%Y%m%d-%H%M%S)

.PHONY: test test-fast smoke train soak bench golden mutation clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) -e '.[test]'
	touch $(TEST_STAMP)

$(MUTATION_STAMP): $(TEST_STAMP)
	$(PIP) -e '.[test,mutation]'
	touch $(MUTATION_STAMP)

## test: unit tests, gradient checks, property tests and the Humanoid regression test
test: $(TEST_STAMP)
	$(PY) -m pytest tests property_tests

## test-fast: the inner loop, about half a minute: every test not marked slow, env, subprocess or docs
## (the selection make mutation runs); make test stays the whole suite
test-fast: $(TEST_STAMP)
	$(PY) -m pytest tests property_tests -m "not slow and not env and not subprocess and not docs"

## smoke: 100,000 steps of Humanoid-v4 with a progress bar, then the result next to a random policy's
smoke: $(STAMP)
	$(PY) -m ppo_ref train --total-timesteps 100000 --run-dir runs/smoke-$(RUN_STAMP) --progress
	$(PY) -m ppo_ref summary runs/smoke-$(RUN_STAMP)

## train: the full reference run, 1,000,000 steps of Humanoid-v4 (SPEC 7)
train: $(STAMP)
	$(PY) -m ppo_ref train --run-dir runs/train-$(RUN_STAMP) --progress
	$(PY) -m ppo_ref summary runs/train-$(RUN_STAMP)

## soak: kill a training process with SIGKILL 20 times at random moments, resume it each time
soak: $(TEST_STAMP)
	PPO_REF_SOAK_KILLS=20 $(PY) -m pytest tests/test_soak.py

## bench: training speed against the simulator's own (docs/benchmarks.md)
bench: $(STAMP)
	$(PY) -m ppo_ref.bench

## mutation: mutation score of the reference core and the update (ppo_ref/core, ppo_ref/update.py; not the fast
## engine) with mutmut, against the fast test selection of make test-fast (pyproject.toml's [tool.mutmut]).
## Score and every survivor: docs/verification.md
mutation: $(MUTATION_STAMP)
	rm -rf mutants
	$(PY) -m mutmut run --max-children 2
	$(PY) -m mutmut results

## golden: regenerate the golden test vectors in tests/golden (commit them when the numbers change on purpose)
golden: $(STAMP)
	$(PY) -m ppo_ref golden tests/golden

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
