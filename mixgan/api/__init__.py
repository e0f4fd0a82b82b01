"""mixgan as a library: the objects `import mixgan` exports (see mixgan/__init__.py and docs/library.md)."""
