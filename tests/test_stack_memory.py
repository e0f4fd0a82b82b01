"""A stack's quality evaluation holds one member's samples at a time (issue 35, item 4): its memory does
not grow with the stack (500 members: docs/run-dir.md), and each member's numbers are the ones it gets
scored alone (tests/test_stacks.py: a member of a stack trains and measures as it would alone)."""

import torch

from mixgan.config.core import load_config
from mixgan.metrics.toy import ToyReference
from mixgan.trainers.gan import GanTrainer


def test_members_are_scored_one_at_a_time_with_their_own_numbers(monkeypatch):
    cfgs = [load_config(None, [("seed", s), ("model.hidden", 8), ("model.depth", 2), ("train.ema", 0.9),
                               ("train.iterations", 4), ("metrics.n_samples", 300),
                               ("metrics.final_samples", 700)]) for s in (3, 5, 8)]
    trainer = GanTrainer(cfgs, torch.device("cpu"))
    trainer.step = trainer.total  # the last measurement: quality, quality_ema and final_large
    score, seen = ToyReference.score, []

    def spy(self, samples, prefix="quality/"):
        seen.append((samples.shape[0], samples.shape[1], prefix))
        return score(self, samples, prefix)

    monkeypatch.setattr(ToyReference, "score", spy)
    rows = trainer.measure()
    assert seen == [(1, n, p) for _ in cfgs for n, p in ((300, "quality/"), (300, "quality_ema/"),
                                                           (700, "final_large/"))]
    # measured again, the same rows (a measurement draws from its own generators), keys in their order
    monkeypatch.setattr(ToyReference, "score", score)
    again = trainer.measure()
    assert again == rows and len({r["final_large/sliced_w1"] for r in rows}) == 3
    keys = list(rows[0])
    assert keys.index("quality/modes") < keys.index("quality_ema/modes") < keys.index("final_large/modes")
