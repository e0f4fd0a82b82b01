"""`python -m mixgan.benchmarks`: the toy-GAN and classifier speed tables (BENCHMARKS.md)."""

import sys

from mixgan.benchmarks.gan import main

sys.exit(main())
