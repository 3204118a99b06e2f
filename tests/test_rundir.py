"""The rule of train --resume, in one place: only the settings that choose where the
numbers are computed may be given, and a refusal comes before any file is read."""

import pytest

from ppo_ref.config import HOW_TO_RUN, ConfigError
from ppo_ref.run.rundir import check_resume_settings, open_run


def test_the_settings_of_where_the_numbers_are_computed_are_accepted():
    check_resume_settings({name: True for name in HOW_TO_RUN})
    check_resume_settings({})


def test_any_other_setting_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError) as err:
        open_run(None, str(tmp_path / "no such run"), {"seed": 3, "reference_core": True, "learning_rate": 1e-3})
    message = str(err.value)
    assert "do not also pass --seed, --learning-rate (only --async-envs, --thread-envs" in message
    assert "no such" not in message  # refused before the checkpoint is looked for
