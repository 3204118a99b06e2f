"""Hypothesis profiles for the property tests.

- ``ci`` (the default): derandomised, so every run checks the same examples and
  a red build is reproducible; no deadline, because timing on shared CI machines
  is noise; a modest number of examples to keep the suite to seconds.
- ``dev``: random examples, many of them, for long local fuzzing:
  ``HYPOTHESIS_PROFILE=dev python -m pytest property_tests``.

The profile is chosen by the ``HYPOTHESIS_PROFILE`` environment variable; the
hypothesis pytest plugin's ``--hypothesis-profile`` option, when given, wins.
pytest imports this file before collecting any module of property_tests/ (also
for ``pytest tests property_tests`` run from the repository root), so the
profile is in force before any ``@given`` test is defined.
"""

import ppo_ref  # noqa: F401  (first: it pins portable numerics before numpy loads, SPEC 8.2)

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
