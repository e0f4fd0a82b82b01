"""Run dirs: paths and atomic writes, the run logger, checkpoints, the TensorBoard layout."""
