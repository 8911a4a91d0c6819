"""What the neural baselines share: features h(x) of the last hidden layer, then a linear head in bu/acre."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from geoapp.errors import InputError

__all__ = ["BaselineNet"]


class BaselineNet(nn.Module):
    """y = target_mean + target_std * (w . h(x) + b), bu/acre, for the last hidden layer's features h(x) (B, d).

    Subclasses set ``self.config`` (with ``target_mean``, ``target_std``), ``self.input_shape`` (one
    example's input shape) and ``self.head = nn.Linear(d, 1)``, and implement :meth:`features`. The
    output scale starts the head at the training labels' mean and spread, as for the attention models.
    """

    config: object
    input_shape: tuple[int, ...]
    head: nn.Linear

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer h(x): (B, *input_shape) -> (B, d)."""
        raise NotImplementedError

    def check_input(self, x: Tensor) -> None:
        """Refuse inputs of another shape, or holding NaN/inf."""
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != tuple(self.input_shape):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(
                f"{type(self).__name__} takes inputs of shape (B, {', '.join(map(str, self.input_shape))}); got {shape}"
            )
        if not torch.isfinite(x).all():
            raise InputError(f"{type(self).__name__} inputs hold non-finite values (NaN/inf); fill them before the model")

    def forward(self, x: Tensor) -> Tensor:
        """Predicted yields (B,) in bu/acre."""
        self.check_input(x)
        return self.from_features(self.features(x))

    def from_features(self, h: Tensor) -> Tensor:
        """The head on features (B, d) -> (B,) bu/acre."""
        c = self.config
        return c.target_mean + c.target_std * self.head(h).squeeze(-1)

    def head_in_yield_units(self) -> Tensor:
        """(d + 1,) float64: the head as weights on [h, 1] giving bu/acre (the GP's prior mean of beta)."""
        c = self.config
        w = self.head.weight.detach().double().reshape(-1) * c.target_std
        b = self.head.bias.detach().double().reshape(-1) * c.target_std + c.target_mean
        return torch.cat([w, b])
