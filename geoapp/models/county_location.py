"""What ``semi-ha-loc`` adds to SEMI-HA: a frozen location embedding per county and its learned projection.

The table holds one row per county of the dataset (rows of ``ds.counties``): the unit-norm embedding
(D = 256 for the shipped spherical-harmonics + SIREN encoder) of the county's anchor-tile centre,
computed once by the location encoder when training starts
(:func:`geoapp.training.location_context.county_location_table`). It is a buffer, not a parameter:
saved with the weights (a checkpoint needs no location encoder to predict), never in the optimizer,
never changed by training. A projection (Linear D -> m, then ReLU, the activation of the model's
feed-forward layers) maps an example's row to the pooled size m; the yield model adds it to the
temporally pooled representation before the regression head.

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

    The table starts at zeros; :meth:`set_table` fills it (the trainer), or ``load_state_dict`` (a checkpoint).
    """

    def __init__(self, rows: int, dim: int, out_dim: int) -> None:
        super().__init__()
        self.register_buffer("table", torch.zeros(rows, dim), persistent=True)
        self.project = nn.Sequential(nn.Linear(dim, out_dim), nn.ReLU())

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

    def forward(self, county: Tensor) -> Tensor:
        """(B,) int64 county rows -> (B, m) projected location embeddings.

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
        return self.project(self.table[county])
