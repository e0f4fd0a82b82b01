"""Image-GAN data as one uint8 (N,C,H,W) tensor: embedded digits / Stacked digits, or local CIFAR,
MNIST and ImageFolder trees (through the loaders of data/images.py; nothing is ever downloaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

# Stacked digits: the training set and the metrics' reference set are fixed draws, the same for
# every run seed, so runs differ only by their own seed and share one cached reference statistic.
TRAIN_DRAW, REFERENCE_DRAW = 0, 1


def resize_u8(x: Tensor, size: int) -> Tensor:
    """uint8 images resized to size×size (antialiased bilinear); unchanged when already that size."""
    if size == 0 or x.shape[-2:] == (size, size):
        return x
    y = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8)


def _image_folder(root: str, size: int) -> Tensor:
    from torchvision import transforms

    from mixgan.data.images import image_folder

    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    ds = image_folder(root, "train", transform=tf)
    return torch.stack([ds[i][0] for i in range(len(ds))])  # whole folder in memory: small sets only


def load_gan_images(data: Any) -> Tensor:
    """Training images of `data` (the config's data section): uint8 (N,C,H,W), C = 1 or 3."""
    from mixgan.data.images import digits_u8, load_local_images, stacked_digits

    if data.name in ("digits", "stacked_digits"):
        x, y = digits_u8()
        if data.name == "stacked_digits":
            x = stacked_digits(data.n, TRAIN_DRAW, x, y)[0]
    elif data.name == "image_folder":
        x = _image_folder(data.root, data.image_size)
    else:
        x = load_local_images(data.name, data.root, train=True)[0]
    if x.dtype != torch.uint8:  # folders of 16-bit PNGs and the like
        x = (x.float() * (255 / x.max().clamp_min(1))).round().to(torch.uint8)
    return resize_u8(x, data.image_size)


def reference_images(data: Any, train: Tensor, n: int) -> tuple[Tensor, str]:
    """The real images FID & co. compare against, and a cache name that identifies them.

    Stacked digits: an independent draw of n images (the data distribution, not the training set);
    otherwise n training images picked by a fixed seed (all of them when there are fewer).
    """
    size = train.shape[-1]
    if data.name == "stacked_digits":
        from mixgan.data.images import digits_u8, stacked_digits

        x = resize_u8(stacked_digits(n, REFERENCE_DRAW, *digits_u8())[0], data.image_size)
        return x, f"mixgan-stacked_digits-{size}px-draw{REFERENCE_DRAW}-n{n}"
    m = min(n, train.shape[0])
    idx = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(REFERENCE_DRAW))[:m]
    root = str(Path(data.root).expanduser().resolve())
    where = "" if data.name == "digits" else "-" + "".join(c if c.isalnum() else "_" for c in root)[-60:]
    return train[idx.to(train.device)].cpu(), f"mixgan-{data.name}{where}-train-{size}px-n{m}"


HELD_OUT_DRAW = 2  # the image GAN's held-out reference images (metrics/image_reference.py)


def held_out_images(data: Any, train: Tensor, n: int) -> Tensor:
    """n real images that are not the reference images.

    Stacked digits: another independent draw of the data distribution. Otherwise the training images
    after the reference ones in the same fixed permutation (data/gan_images.reference_images), drawn
    with replacement from them when fewer than n are left (from the whole set when none is left)."""
    if data.name == "stacked_digits":
        from mixgan.data.images import digits_u8, stacked_digits

        return resize_u8(stacked_digits(n, HELD_OUT_DRAW, *digits_u8())[0], data.image_size)
    train = train.cpu()
    perm = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(REFERENCE_DRAW))
    rest = perm[min(n, train.shape[0]):]
    if rest.numel() >= n:
        return train[rest[:n]]
    pool = rest if rest.numel() else perm
    pick = torch.randint(pool.numel(), (n,), generator=torch.Generator().manual_seed(HELD_OUT_DRAW))
    return train[pool[pick]]
