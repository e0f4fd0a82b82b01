"""mixgan: mixup-regularized GAN and classifier training (Zhang et al., ICLR 2018)."""

import os as _os

__version__ = "0.1.0"

# OpenMP threads that wait for work sleep instead of spinning (issue 11). libgomp's default spins
# for a while after every parallel region; with two runs on 2 cores the spinning threads take the
# cores from the working ones, and each run became 3-13x slower instead of 2x (BENCHMARKS.md,
# "Shared CPU"). libgomp reads this when torch loads it, so it is set before anything imports torch;
# a value the user set wins, and MIXGAN_OMP_DEFAULTS=0 leaves OpenMP's own default.
if _os.environ.get("MIXGAN_OMP_DEFAULTS", "1") != "0":
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
