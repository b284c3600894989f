"""Configuration: every setting read from the environment, checked, in one place."""
