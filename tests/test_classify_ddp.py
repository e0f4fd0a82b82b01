"""Multi-process training: a 2-process gloo run trains the same model as one process (the same
batches, split between the ranks; gradients averaged exactly), and only rank 0 writes the run dir."""

import torch

from mixgan.rundir.checkpoint import CHECKPOINT, load_checkpoint
from mixgan.train import main
from mixgan.trainers.distributed import epoch_batches, shard

from runhelp import rows, run_ranks

# ERM on iris with an MLP (no BatchNorm, no dropout): the 2-process run must equal the 1-process one.
ARGS = ["--task=classify", "--data.name=iris", "--model.name=mlp", "--model.hidden=16", "--train.epochs=3",
        "--train.batch_size=16", "--train.optimizer=sgd", "--train.lr=0.1", "--run.progress=false",
        "--metrics.image_every=0", "--device=cpu"]


def test_shards_of_every_batch_cover_it_in_order():
    perm = torch.randperm(103, generator=torch.Generator().manual_seed(0))
    batches = epoch_batches(perm, 16, min_last=2)
    assert torch.equal(torch.cat(batches), perm[:103])  # last batch of 7 kept
    for b in batches:
        assert torch.equal(torch.cat([shard(b, r, 2) for r in range(2)]), b)
        assert abs(shard(b, 0, 2).numel() - shard(b, 1, 2).numel()) <= 1
    assert len(epoch_batches(perm[:97], 16, min_last=2)) == 6  # a last batch of 1 is dropped


def test_two_process_gloo_run_equals_one_process(tmp_path):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*ARGS, f"--run.dir={tmp_path}", "--run.name=one"]) == 0
        assert run_ranks([*ARGS, f"--run.dir={tmp_path}", "--run.name=two"]) == [0, 0]
    finally:
        torch.set_num_threads(n)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # rank 1 wrote nothing
    one = load_checkpoint(tmp_path / "one" / CHECKPOINT)["trainer"]["model"]
    two = load_checkpoint(tmp_path / "two" / CHECKPOINT)["trainer"]["model"]
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-5), k
    for a, b in zip(rows(tmp_path / "one"), rows(tmp_path / "two"), strict=True):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-3 for k in a)
