"""The paper's classifier pictures, ERM vs mixup: Figure 1b (P(y=1|x) on 2-D data), Figure 2
(prediction misses and ‖∇ₓ loss‖ between training examples, digits) and the PCA of mixed examples'
features as λ goes from 0 to 1. Saved as PNG and logged to TensorBoard under --out.

    python scripts/classify_figures.py [--out runs/classify/figures] [--seed 0]
    tensorboard --logdir runs/classify/figures
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from classify_runs import load_trained, markdown_table, train_runs, write_results

from mixgan.metrics.classify import between_examples, between_pairs, pca_2d
from mixgan.report.plots_classify import between_figure, decision_figure, pca_figure

MODELS = {"ERM": [], "mixup α=1": ["--mixup", "--objective.alpha=1.0"]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/classify/figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from torch.utils.tensorboard import SummaryWriter

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(out / "tensorboard"))
    variants = {k.split()[0].lower(): v for k, v in MODELS.items()}
    labels = dict(zip(variants, MODELS))

    def emit(tag: str, fig: object) -> None:
        fig.savefig(out / f"{tag}.png", dpi=120, bbox_inches="tight")  # type: ignore[attr-defined]
        writer.add_figure(tag, fig, 0)

    # Figure 1b: two 2-D toys, overlapping blobs and two moons.
    for data in ("blobs", "moons"):
        base = ["--config=configs/classify/moons.yaml", f"--data.name={data}", "--metrics.image_every=-1"]
        runs = train_runs(out / data, variants, [args.seed], base)
        models = {}
        for v, dirs in runs.items():
            models[labels[v]], _, split = load_trained(dirs[0])
        emit(f"fig1b_{data}", decision_figure(models, split.x_train, split.y_train))

    # Figure 2 and the PCA, on digits (the default preset).
    runs = train_runs(out / "digits", variants, [args.seed], ["--task=classify", "--metrics.image_every=-1"])
    lams = torch.linspace(0, 1, 11)
    curves, paths, clouds = {}, {}, {}
    pairs = 8
    for v, dirs in runs.items():
        model, cfg, d = load_trained(dirs[0])
        xa, ya, xb, yb = between_pairs(d.x_train, d.y_train, 512, cfg.seed)
        curves[labels[v]] = tuple(c.detach() for c in between_examples(model, xa, ya, xb, yb, lams))
        with torch.no_grad():
            train_feats = model.features(d.x_train)
            mean, axes = pca_2d(train_feats)
            clouds[labels[v]] = (train_feats - mean) @ axes
            # (pairs, L, C, H, W): each pair's segment x = λ·x_a + (1−λ)·x_b
            mixed = torch.stack([lam * xa[:pairs] + (1 - lam) * xb[:pairs] for lam in lams.tolist()], 1)
            feats = model.features(mixed.flatten(0, 1))
            paths[labels[v]] = ((feats - mean) @ axes).view(pairs, len(lams), 2)
    emit("fig2_between_examples", between_figure(lams, curves))
    emit("pca_mixed_examples", pca_figure(paths, lams, clouds))
    writer.close()
    half = len(lams) // 2
    rows = [[name, f"{100 * float(miss[half]):.1f}", f"{float(grad[half]):.3f}"]
            for name, (miss, grad) in curves.items()]
    table = markdown_table(["digits model", "miss at λ=0.5 (%)", "‖∇ₓ loss‖ at λ=0.5"], rows)
    raw = {k: {"miss": m.tolist(), "grad": g.tolist(), "lams": lams.tolist()} for k, (m, g) in curves.items()}
    write_results(out, "Figure 2 on digits (512 pairs of training examples of different classes)",
                  f"python scripts/classify_figures.py --out {args.out} --seed {args.seed}", table, raw)


if __name__ == "__main__":
    main()
