"""Typed configs: the core (YAML, dotted overrides, checks), one schema per task, sweep files."""
