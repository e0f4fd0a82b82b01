"""Reports over runs: statistics over seeds (stats.py), used by compare, the sweep report and scripts."""
