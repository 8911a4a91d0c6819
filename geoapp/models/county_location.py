"""What ``semi-ha-loc`` adds to SEMI-HA: a frozen location embedding per county and its learned projection.

The table holds one row per county of the dataset (rows of ``ds.counties``): the unit-norm embedding
(D = 256 for the shipped spherical-harmonics + SIREN encoder) of the county's anchor-tile centre,
computed once by the location encoder when training starts
(:func:`geoapp.training.location_context.county_location_table`). It is a buffer, not a parameter:
saved with the weights (a checkpoint needs no location encoder to predict), never in the optimizer,
never changed by training. A projection (Linear D -> m, then ReLU, the activation of the model's
feed-forward layers) maps an example's row to the pooled size m; the yield model adds it to the
temporally pooled representation before the regression head.

With ``film`` a second learned map (Linear D -> m, starting at zero) gives a per-feature scale as well:
the yield model then computes ``pooled * (1 + scale) + shift`` (feature-wise linear modulation, FiLM,
Perez et al. 2018) rather than ``pooled + shift``, so the regression head's response to the months'
features can vary with place (a drought costs more in some regions than in others), which adding a
term cannot express. At initialisation the scale is zero, so the model starts as the additive one.

Why frozen: the table is per county, so fine-tuning the encoder would need the encoder and the
counties' coordinates in every training step, and with about a thousand counties and ten years of
labels it would be free to memorise one vector per county rather than keep a smooth function of
place. Only the projection (D x m + m weights) learns.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from geoapp.errors import InputError

__all__ = ["CountyLocation"]


class CountyLocation(nn.Module):
    """A frozen (rows, D) table of county location embeddings and a learned projection to m.

    Args:
        rows: counties in the table (rows of the dataset's county table).
        dim: D, the location embedding's size.
        out_dim: m, the yield model's embedding size.
        film: also learn a per-feature scale (see the module docstring).

    The table starts at zeros; :meth:`set_table` fills it (the trainer), or ``load_state_dict`` (a checkpoint).
    """

    def __init__(self, rows: int, dim: int, out_dim: int, film: bool = False) -> None:
        super().__init__()
        self.register_buffer("table", torch.zeros(rows, dim), persistent=True)
        self.project = nn.Sequential(nn.Linear(dim, out_dim), nn.ReLU())
        self.scale: nn.Linear | None = None
        if film:
            self.scale = nn.Linear(dim, out_dim)
            nn.init.zeros_(self.scale.weight)  # starts as the additive model
            nn.init.zeros_(self.scale.bias)

    @torch.no_grad()
    def set_table(self, table: Tensor) -> None:
        """Copy ``table`` (rows, D) float, finite, into the frozen buffer.

        Raises:
            InputError: a table of another shape, or with non-finite values.
        """
        if not isinstance(table, Tensor) or tuple(table.shape) != tuple(self.table.shape):
            raise InputError(
                f"the county location table must be a tensor of shape {tuple(self.table.shape)} (counties, D); "
                f"got {tuple(table.shape) if isinstance(table, Tensor) else type(table).__name__}"
            )
        if not bool(torch.isfinite(table).all()):
            raise InputError("the county location table holds NaN or infinite values; rebuild it from the location encoder")
        self.table.copy_(table.to(self.table))

    def forward(self, county: Tensor) -> tuple[Tensor, Tensor | None]:
        """(B,) int64 county rows -> (shift (B, m), scale (B, m) or None without ``film``).

        Raises:
            InputError: ``county`` is not a 1-D integer tensor of rows of the table.
        """
        if not isinstance(county, Tensor) or county.dim() != 1 or county.is_floating_point() or county.dtype == torch.bool:
            shown = getattr(county, "shape", type(county).__name__)
            raise InputError(f"county must be a (B,) int64 tensor of county rows; got {shown}")
        rows = self.table.shape[0]
        if len(county) and (int(county.min()) < 0 or int(county.max()) >= rows):
            raise InputError(
                f"county rows must lie in 0..{rows - 1} (the rows of the dataset the model was trained on); "
                f"got {int(county.min())}..{int(county.max())}"
            )
        rows_of = self.table[county]
        return self.project(rows_of), None if self.scale is None else self.scale(rows_of)
