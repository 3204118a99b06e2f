"""Run management."""
