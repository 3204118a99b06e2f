"""The reference core."""
