"""Hybrid attention over the months (SEMI-HA, Section III-D of ``seeds/000_c3504549b90f76f9.txt``).

The CNN embeds each month's tile independently, g(A^1), ..., g(A^T); this module mixes them over time.
Per layer, with Z in R^{T x m} one example's month embeddings:

- Eq. 7, once before the first layer: Z <- Z + PE, the sinusoidal positional encoding
  PE(t, 2i) = sin(t / 10000^{2i/m}), PE(t, 2i+1) = cos(t / 10000^{2i/m}), months t = 0..T-1;
- Q, K, V = Z W_Q, Z W_K, Z W_V (linear projections, each m x m);
- Eq. 8: the hybrid query H = Q + G, where G in R^{T x m} is a learned parameter shared by all examples
  (one G per layer). ``use_global_query=False`` drops G: plain self-attention, the paper's SEMI-SA;
- Eq. 9: H, K, V are split into h heads of m/h columns; S_i = softmax(H_i K_i^T / sqrt(m/h)), T x T, each
  row summing to 1 (row t: how month t draws on every month);
- Eq. 10: Z_i^u = S_i V_i;
- Eq. 11: Z^u = concat(Z_1^u, ..., Z_h^u) W, W in R^{m x m};
- Eq. 12: Z^u = Z^u + Z, the residual, followed by layer normalisation;
- a position-wise feed-forward network (Linear m -> d_ff, ReLU, Linear d_ff -> m) with its own
  residual and layer normalisation. (The paper gives it no equation number; its Eq. 13 is the
  supervised loss, see ``geoapp.models.yield_losses``.)

Choices the paper leaves open, and what this module does:

- Layer normalisation. The paper writes only the residual (Eq. 12) but builds the layer "following
  [13]" (Vaswani et al. 2017) and adds the feed-forward network "as in [13]"; [13] wraps each sublayer
  as LayerNorm(x + Sublayer(x)). That is the default here (``norm_first=False``). The paper's public
  code normalises before each sublayer instead (x + Sublayer(LayerNorm(x)), a final LayerNorm after the
  last layer); ``norm_first=True`` gives that variant.
- G's initialisation: "randomly initialized" (paper). Here G ~ N(0, 0.02^2) (``global_query_init_std``),
  small beside Q, so that training starts close to self-attention and G grows only as far as the
  supervised and unsupervised losses ask; a unit-variance G (the public code) would start every example
  with the same, random, attention pattern.
- Dropout: on the output of each sublayer (after W and after the feed-forward), as in [13]; never on
  the attention weights, so that the returned S_i are the softmax of Eq. 9 (rows sum to 1).
- No biases in W_Q, W_K, W_V, W (Eq. 8-11 are written without them); G plays the part a query bias would.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from geoapp.errors import InputError

__all__ = [
    "sinusoidal_encoding",
    "HybridMultiHeadAttention",
    "HybridAttentionLayer",
    "HybridAttentionEncoder",
]


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer; got {value!r}")
    return value


def sinusoidal_encoding(n_steps: int, dim: int) -> Tensor:
    """Eq. 7: the (T, m) sinusoidal positional encoding, float32.

    Row t (months 0..T-1) holds PE(t, 2i) = sin(t / 10000^{2i/m}) and PE(t, 2i+1) = cos(t / 10000^{2i/m})
    for i = 0..m/2-1. ``dim`` (m) must be even.
    """
    _check_positive_int(n_steps, "n_steps")
    _check_positive_int(dim, "dim")
    if dim % 2:
        raise InputError(f"the positional encoding of Eq. 7 needs an even embedding size m; got {dim}")
    t = torch.arange(n_steps, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)[None, :]
    angle = t / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_i / dim)
    pe = torch.empty(n_steps, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


class HybridMultiHeadAttention(nn.Module):
    """Multi-head attention with the hybrid query H = Q + G (Eq. 8-11), without residual or norm.

    Args:
        dim: embedding size m (divisible by ``heads``).
        heads: number of heads h.
        n_steps: sequence length T (months); G is T x m.
        use_global_query: add the learned global query G (hybrid attention); False: self-attention.
        global_query_init_std: standard deviation of G's normal initialisation.
    """

    def __init__(
        self, dim: int, heads: int, n_steps: int, use_global_query: bool = True, global_query_init_std: float = 0.02
    ) -> None:
        super().__init__()
        self.dim = _check_positive_int(dim, "dim")
        self.heads = _check_positive_int(heads, "heads")
        self.n_steps = _check_positive_int(n_steps, "n_steps")
        if dim % heads:
            raise InputError(
                f"embedding size m={dim} must be divisible by the number of heads h={heads} (Eq. 9 splits m into h parts)"
            )
        self.head_dim = dim // heads
        self.w_q = nn.Linear(dim, dim, bias=False)
        self.w_k = nn.Linear(dim, dim, bias=False)
        self.w_v = nn.Linear(dim, dim, bias=False)
        self.w_out = nn.Linear(dim, dim, bias=False)  # W of Eq. 11
        self.use_global_query = bool(use_global_query)
        self.global_query: nn.Parameter | None
        if self.use_global_query:
            self.global_query = nn.Parameter(torch.randn(n_steps, dim) * float(global_query_init_std))  # G of Eq. 8
        else:
            self.register_parameter("global_query", None)

    def _split(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, h, T, m/h)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, m) -> (Z^u of Eq. 11: (B, T, m), attention S of Eq. 9: (B, h, T, T))."""
        query = self.w_q(z)
        if self.global_query is not None:
            query = query + self.global_query  # Eq. 8: H = Q + G, G broadcast over the batch
        h, k, v = self._split(query), self._split(self.w_k(z)), self._split(self.w_v(z))
        scores = torch.softmax(h @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)  # Eq. 9
        heads_out = scores @ v  # Eq. 10: Z_i^u = S_i V_i
        b, _, t, _ = heads_out.shape
        concat = heads_out.transpose(1, 2).reshape(b, t, self.dim)
        return self.w_out(concat), scores  # Eq. 11


class HybridAttentionLayer(nn.Module):
    """One layer: hybrid attention + residual (Eq. 12) + layer norm, then the position-wise feed-forward.

    Args:
        dim: embedding size m.
        heads: number of heads h.
        n_steps: sequence length T.
        ff_dim: hidden size of the position-wise feed-forward network.
        dropout: dropout on each sublayer's output.
        use_global_query: hybrid attention (True) or self-attention (False).
        global_query_init_std: standard deviation of G's initialisation.
        norm_first: normalise before each sublayer (the public code) instead of after the residual ([13]).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        n_steps: int,
        ff_dim: int,
        dropout: float = 0.1,
        use_global_query: bool = True,
        global_query_init_std: float = 0.02,
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        self.attention = HybridMultiHeadAttention(dim, heads, n_steps, use_global_query, global_query_init_std)
        self.feed_forward = nn.Sequential(
            nn.Linear(dim, _check_positive_int(ff_dim, "ff_dim")), nn.ReLU(inplace=True), nn.Linear(ff_dim, dim)
        )
        self.norm_attention = nn.LayerNorm(dim)
        self.norm_feed_forward = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = bool(norm_first)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, m) -> ((B, T, m), attention (B, h, T, T))."""
        if self.norm_first:
            update, scores = self.attention(self.norm_attention(z))
            z = z + self.dropout(update)  # Eq. 12
            z = z + self.dropout(self.feed_forward(self.norm_feed_forward(z)))
        else:
            update, scores = self.attention(z)
            z = self.norm_attention(z + self.dropout(update))  # Eq. 12, then LayerNorm as in [13]
            z = self.norm_feed_forward(z + self.dropout(self.feed_forward(z)))
        return z, scores


class HybridAttentionEncoder(nn.Module):
    """Positional encoding (Eq. 7) and N hybrid attention layers (Eq. 8-12 + feed-forward).

    Args:
        dim: embedding size m (even, divisible by ``heads``).
        n_steps: months T; inputs must have exactly T steps (G is T x m).
        heads: number of heads h.
        layers: number of layers N.
        ff_dim: hidden size of the position-wise feed-forward network.
        dropout: dropout on each sublayer's output.
        use_global_query: True: hybrid attention (SEMI-HA, S-HA); False: self-attention (SEMI-SA).
        global_query_init_std: standard deviation of G's normal initialisation (0.02).
        norm_first: see :class:`HybridAttentionLayer`.
    """

    def __init__(
        self,
        dim: int,
        n_steps: int = 7,
        heads: int = 8,
        layers: int = 2,
        ff_dim: int = 2048,
        dropout: float = 0.1,
        use_global_query: bool = True,
        global_query_init_std: float = 0.02,
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.n_steps = n_steps
        self.register_buffer("positional_encoding", sinusoidal_encoding(n_steps, dim), persistent=False)
        self.layers = nn.ModuleList(
            HybridAttentionLayer(dim, heads, n_steps, ff_dim, dropout, use_global_query, global_query_init_std, norm_first)
            for _ in range(_check_positive_int(layers, "layers"))
        )
        self.final_norm: nn.Module = nn.LayerNorm(dim) if norm_first else nn.Identity()

    def forward(self, z: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Mix the months of each example.

        Args:
            z: (B, T, m) month embeddings g(A^1..A^T), months in calendar order.
            return_attention: also return every layer's and head's S_i (Eq. 9).

        Returns:
            (B, T, m) refined embeddings; with ``return_attention``, also the attention as a
            (N layers, B, h, T, T) tensor whose rows (last axis) sum to 1.
        """
        if z.dim() != 3 or z.shape[1] != self.n_steps or z.shape[2] != self.dim:
            raise InputError(f"expected month embeddings of shape (B, T={self.n_steps}, m={self.dim}); got {tuple(z.shape)}")
        z = z + self.positional_encoding  # Eq. 7, added position-wise
        scores = []
        for layer in self.layers:
            z, s = layer(z)
            scores.append(s)
        z = self.final_norm(z)
        if return_attention:
            return z, torch.stack(scores)
        return z
