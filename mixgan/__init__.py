"""mixgan: mixup-regularized GAN and classifier training (Zhang et al., ICLR 2018)."""

__version__ = "0.1.0"
