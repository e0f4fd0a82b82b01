"""Models by name. Image-GAN models: name -> build(model_cfg, channels, size) -> (G, D), G mapping
(n, latent_dim) noise to (n, channels, size, size) images in [-1, 1] and D images to (n, 1) logits.
Other packages add theirs through the entry-point group "mixgan.image_gan_models"."""

from __future__ import annotations

from typing import Any

from mixgan._registry import Registry


def dcgan(m: Any, channels: int, size: int) -> tuple[Any, Any]:
    """DCGAN (Radford et al. 2016) with the image-GAN model section's widths and options."""
    from mixgan.models.dcgan import DCGANDiscriminator, DCGANGenerator

    return (DCGANGenerator(m.latent_dim, channels, size, m.g_base),
            DCGANDiscriminator(channels, size, m.d_base, m.spectral_norm, m.d_batch_norm))


IMAGE_GAN_MODELS = Registry("image GAN model", "mixgan.image_gan_models")
IMAGE_GAN_MODELS.register("dcgan", dcgan)
IMAGE_GAN_MODELS.seal()
