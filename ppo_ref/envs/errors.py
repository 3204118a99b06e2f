"""The error an unusable environment raises."""

from ppo_ref.errors import UserError


class EnvError(UserError):
    """The environment cannot be used by ppo_ref; the message says why."""
