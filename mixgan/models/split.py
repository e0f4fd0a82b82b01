"""A discriminator given as head ∘ features, for regularizers that read D's features (AdaptiveMix,
objectives/adaptivemix.py): `mixgan.SplitD(features=body, head=last_layer)`."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from mixgan.errors import ConfigError


class SplitD(nn.Module):
    """D(x) = head(features(x)); `features` and `head` are modules (their weights become D's) or functions.

    mixgan's own Ds already expose both (StackedMLP, StackedNet, DCGANDiscriminator); wrap yours when a
    stabilizer needs the split: `D = mixgan.SplitD(features=my_body, head=my_head)`.
    """

    def __init__(self, *, features: Callable[[Tensor], Tensor], head: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        for key, value in (("features", features), ("head", head)):
            if not callable(value):
                raise ConfigError(f"SplitD({key}={type(value).__name__}); accepted: a module or a function "
                                  "of a tensor")
        self.features, self.head = features, head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
