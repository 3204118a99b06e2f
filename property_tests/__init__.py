"""Hypothesis property tests of ppo_ref's numerical core (a package, so that its
module names cannot collide with those of tests/)."""
