"""The image GAN's numbers beside its references (issue 33, item 8): held-out real images, uniform noise
images and one repeated image, scored by the run's own evaluator on the same features, against the same
reference images, at the same sample size, once at the end: in summary.json, the closing lines,
TensorBoard's Text tab and compare's table. Checked on a tiny Stacked-digits run: the references order as
they must (the data beats noise and one image on FID, recall and coverage; one image has one mode) and
do not depend on the run (another seed and length gives the same rows, so compare shows one set)."""

import json

import pytest

import mixgan
from mixgan.train import main

from runhelp import CLF

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py (and its `cache` fixture)


def tiny(cache, root, name, *extra):
    return ["--config=configs/gan/dcgan_stacked_digits.yaml", "--data.n=500", "--model.g_base=8",
            "--model.d_base=8", "--model.latent_dim=16", "--train.batch_size=16", "--train.iterations=6",
            "--train.amp=false", "--train.channels_last=false", "--train.ema=0", "--metrics.every=3",
            "--metrics.fid_every=0", "--metrics.image_every=0", "--metrics.n_samples=300",
            "--metrics.kid_subsets=2", "--metrics.kid_subset_size=100", f"--metrics.cache_dir={cache}",
            f"--metrics.classifier_epochs={CLF['epochs']}", f"--metrics.classifier_width={CLF['width']}",
            "--run.progress=false", "--device=cpu", f"--run.dir={root}", f"--run.name={name}", *extra]


def test_reference_rows_in_summary_console_tensorboard_and_compare(cache, tmp_path, capsys):
    root = tmp_path / "runs"
    assert main(tiny(cache, root, "erm-s0")) == 0
    closing = capsys.readouterr().out
    summary = json.loads((root / "erm-s0" / "summary.json").read_text())
    refs = summary["references"]
    assert list(refs) == ["data", "noise", "one image"]
    final = summary["final"]
    tags = {t for t in final if t.startswith(("fidelity/", "quality/"))}
    assert tags and all(set(refs[name]) == tags for name in refs)  # the same measurements as G's
    data, noise, one = refs["data"], refs["noise"], refs["one image"]
    assert data["fidelity/fid_digits"] < min(noise["fidelity/fid_digits"], one["fidelity/fid_digits"])
    for m in ("recall", "coverage"):
        assert data[f"fidelity/{m}_digits"] > max(noise[f"fidelity/{m}_digits"], one[f"fidelity/{m}_digits"])
    assert one["quality/modes"] == 1 and data["quality/modes"] > 100
    # the closing lines: each number with the references beside it
    line = next(x for x in closing.splitlines() if x.strip().startswith("fidelity/precision_digits"))
    assert f"noise {noise['fidelity/precision_digits']:.3g}" in line
    assert "one image" in line and "data" in line
    # TensorBoard's Text tab
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(root / "erm-s0"), size_guidance={"tensors": 0})
    acc.Reload()
    (event,) = acc.Tensors("references/text_summary")
    text = event.tensor_proto.string_val[0].decode()
    assert event.step == 6 and "uniform noise images" in text and "fidelity/fid_digits" in text
    # another seed and length: the same references (they depend on the data, sample size and features)
    assert main(tiny(cache, root, "mixup-s1", "--seed=1", "--train.iterations=3",
                     "--objective.name=mixup")) == 0
    other = json.loads((root / "mixup-s1" / "summary.json").read_text())
    assert other["references"] == refs
    text = mixgan.compare_runs([root], tmp_path / "cmp", plots=False, tensorboard=False)
    for name in ("held-out real images", "uniform noise images", "one repeated image"):
        assert text.count(f"| reference: {name} |") == 1  # one set for both runs
    row = next(x for x in text.splitlines() if x.startswith("| reference: uniform noise images |"))
    assert f"{noise['fidelity/fid_digits']:.3g}"[:3] in row or f"{noise['fidelity/fid_digits']:.1f}" in row
