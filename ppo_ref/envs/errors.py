"""The error an unusable environment raises."""


class EnvError(ValueError):
    """The environment cannot be used by ppo_ref; the message says why."""
