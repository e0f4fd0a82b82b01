"""DCGAN generator and discriminator (Radford et al. 2016) for 8, 28, 32, 64... px images, the
image GAN of the mixup paper's §3.7 experiments; optional spectral norm on D (Miyato et al. 2018).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from mixgan.errors import InputSizeError


def dcgan_plan(image_size: int) -> tuple[int, int]:
    """(start size s0, number of x2 up/down-samplings k) with image_size = s0 * 2**k, 4 <= s0 <= 7.

    32 → (4, 3), 28 → (7, 2), 8 → (4, 1), 64 → (4, 4). Raises ValueError for other sizes.
    """
    s, k = image_size, 0
    while s > 7 and s % 2 == 0:
        s, k = s // 2, k + 1
    if k == 0 or not 4 <= s <= 7:
        raise InputSizeError(
            f"DCGAN image_size must be s0 * 2**k with 4 <= s0 <= 7 and k >= 1 (e.g. 8, 28, 32, "
            f"64), got {image_size}"
        )
    return s, k


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN initialization: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) → images (N, channels, image_size, image_size) in [-1, 1].

    ConvTranspose(latent → base*2^(k-1), s0) then k stride-2 ConvTranspose layers halving the
    channels, BatchNorm + ReLU between them and Tanh at the end.
    """

    def __init__(
        self, latent_dim: int = 100, channels: int = 3, image_size: int = 32, base: int = 64
    ) -> None:
        super().__init__()
        s0, k = dcgan_plan(image_size)
        self.latent_dim = latent_dim
        widths = [base * 2 ** (k - 1 - i) for i in range(k)]  # e.g. 4b, 2b, b for 32 px
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], s0, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init_)

    def forward(self, z: Tensor) -> Tensor:
        """Images in [-1, 1] from latent codes (N, latent_dim)."""
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images (N, channels, image_size, image_size) → one logit per image, shape (N,).

    k stride-2 Conv + LeakyReLU(0.2) layers doubling the channels (BatchNorm after all but the
    first if batch_norm), then Conv(s0) to one logit. With spectral_norm=True every conv is
    wrapped in torch.nn.utils.parametrizations.spectral_norm. D = head ∘ features: `features` is the
    conv stack, `head` the last conv (AdaptiveMix reads the features: objectives/adaptivemix.py).
    """

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 32,
        base: int = 64,
        spectral_norm: bool = False,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        s0, k = dcgan_plan(image_size)
        widths = [base * 2**i for i in range(k)]  # e.g. b, 2b, 4b for 32 px

        def conv(c_in: int, c_out: int, k_: int, stride: int, pad: int, bias: bool) -> nn.Module:
            layer = nn.Conv2d(c_in, c_out, k_, stride, pad, bias=bias)
            dcgan_init_(layer)  # before spectral norm, which reparametrizes the weight
            return _spectral_norm(layer) if spectral_norm else layer

        layers: list[nn.Module] = [conv(channels, widths[0], 4, 2, 1, True), nn.LeakyReLU(0.2)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers.append(conv(c_in, c_out, 4, 2, 1, not batch_norm))  # BN has a bias
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
        self.features = nn.Sequential(*layers)
        self.head = conv(widths[-1], 1, s0, 1, 0, True)
        for m in self.features:
            if isinstance(m, nn.BatchNorm2d):
                dcgan_init_(m)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N,): the discriminator's score before the sigmoid."""
        return self.head(self.features(x)).flatten()
