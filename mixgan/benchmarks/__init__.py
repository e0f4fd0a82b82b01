"""Speed tables (python -m mixgan.benchmarks): toy GAN, classifiers, the demo baseline, threads."""
