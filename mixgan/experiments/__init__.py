"""Many runs: seeds, stacks of runs, the sweep executor and its progress bar, memory checks."""
