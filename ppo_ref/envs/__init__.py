"""Environments, one concern per module:

- make.py      making envs (and vector envs) and checking their spaces
- simstate.py  the MuJoCo simulator state that checkpoints carry
- threads.py   a vector env that steps its envs on threads
- errors.py    EnvError, importable without gymnasium

This file imports none of them, so that the porting kit and the command line can
name EnvError without importing gymnasium or MuJoCo.
"""
