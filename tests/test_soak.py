"""The soak bench's verdict (mixgan/benchmarks/soak.py, issue 35 item 5): flat after the warm-up, or grows."""

from mixgan.benchmarks.soak import dir_sizes, rss_mib, verdict


def samples(values, every=1000):
    return [{"step": every * i, "rss_mib": v} for i, v in enumerate(values, 1)]


def test_flat_after_the_warm_up_whatever_the_warm_up_did():
    # +200 MiB during the warm-up (imports, the first checkpoint), then within 3 MiB: flat
    state, growth, slope = verdict(samples([300, 500, 501, 503, 502, 500]), warmup=2000, tolerance=16)
    assert state == "flat" and growth == 3 and abs(slope) < 10


def test_a_leak_grows_and_its_slope_is_per_10000_iterations():
    state, growth, slope = verdict(samples([500 + 2 * i for i in range(20)]), warmup=5000, tolerance=16)
    assert state == "grows" and growth == 30
    assert abs(slope - 20) < 1e-9  # 2 MiB per 1,000 iterations


def test_too_few_samples_after_the_warm_up_say_so():
    assert verdict(samples([500, 510]), warmup=2000, tolerance=16)[0] == "too short"


def test_run_dir_sizes_by_kind(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    for name, size in (("events.out.tfevents.1.x", 10), ("checkpoint.pt", 20), ("metrics.jsonl", 5),
                       ("samples.png", 3), ("final_samples.npy", 4), ("config.yaml", 1)):
        (run / name).write_bytes(b"x" * size)
    assert dir_sizes(tmp_path) == {"events": 10, "checkpoint": 20, "metrics.jsonl": 5, "pictures": 7,
                                   "config.yaml": 1}
    assert rss_mib() > 1
