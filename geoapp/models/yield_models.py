"""The crop-yield models of ``seeds/000_c3504549b90f76f9.txt`` by name: SEMI-HA, S-HA and SEMI-SA.

One architecture (Section III-B, Fig. 2): the CNN g(.) (:class:`~geoapp.models.resnet.ResNetEncoder`)
embeds each month's tile with shared weights; hybrid attention
(:class:`~geoapp.models.hybrid_attention.HybridAttentionEncoder`) mixes the T months; the refined
embeddings are averaged over the months and a fully connected layer predicts the county yield in
bu/acre. The three named models differ in two switches (Section IV-C):

=========  ==========================  ======================================================
name       global query G (Eq. 8)      context tiles SN, SD, TN + unsupervised losses (Eq. 3-6)
=========  ==========================  ======================================================
semi-ha    yes                         yes (the paper's model)
s-ha       yes                         no (supervised only)
semi-sa    no (self-attention)         yes
=========  ==========================  ======================================================

Beyond the paper, ``semi-ha-loc`` is SEMI-HA with a fourth switch, ``use_location``: a learned
projection of a FROZEN location embedding of the example's county (the shipped location encoder's
embedding of the county's anchor-tile centre, one row per county of the dataset, kept in the model's
``location_table`` buffer) is added to the temporally pooled representation before the regression
head, so the model can learn what the tiles do not show (a persistent county effect). The table is
built once when training starts (:mod:`geoapp.training.location_context`) and saved with the weights,
so a checkpoint predicts without the location encoder. Frozen rather than fine-tuned: the table holds
one embedding per county, so fine-tuning the encoder would need the encoder and the counties'
coordinates in every training step and, with about a thousand counties, would let it memorise one
free vector per county instead of a smooth function of place.

The baselines of Section IV-B (:data:`BASELINE_NAMES`: ``ridge``, the paper's LR; ``rf``, ``mlp``,
``lstm-gp``, ``cnn-gp``, ``c3d``, ``cnn-lstm``) are in :data:`MODEL_NAMES` so that lists of models
(CLI, benchmark, pages) name them, but they are not a :class:`YieldModel`: they live in
:mod:`geoapp.models.ridge` and :mod:`geoapp.models.baselines`, are trained through the registry of
model kinds (:mod:`geoapp.training.model_kinds`), and :func:`build_yield_model` refuses them with a
message saying so.

Sizes: ``paper`` (the dataclass defaults: m = 512, ResNet-18 width 64, ImageNet stem for 50 px tiles,
8 heads, 2 layers, d_ff = 2048; the paper states none of these numbers except "ResNet-18": the rest
are its public code's defaults) and ``demo`` (m = 64, width 8, 3x3 stem for 16 px tiles, 2 heads,
1 layer, d_ff = 128; about 0.2 M parameters) for CPU training on the demo data. :data:`SIZES` lists
exactly the fields that differ. Width 8 rather than 16 for the demo: on this project's 2-core CPU the
CNN is nearly all the cost, and width 16 (0.74 M parameters) measured about 2.3x slower in training
and inference (see ``docs/crop-yield-model.md``), beyond the issue's budgets (20 min per training,
1 s for a year's what-if ablation); ``cnn_width=16`` is one override away.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from geoapp.config import strict_from_dict
from geoapp.errors import InputError
from geoapp.models.county_location import CountyLocation
from geoapp.models.hybrid_attention import HybridAttentionEncoder
from geoapp.models.resnet import ResNetEncoder, fold_batchnorm
from geoapp.models.yield_losses import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_GAMMA, yield_loss

__all__ = [
    "MODEL_NAMES",
    "BASELINE_NAMES",
    "MODELS",
    "SIZES",
    "ModelSpec",
    "YieldModelConfig",
    "YieldModel",
    "QuadrupletOutput",
    "yield_model_config",
    "build_yield_model",
]


@dataclass(frozen=True)
class ModelSpec:
    """What a model name stands for."""

    name: str
    description: str
    use_global_query: bool  # hybrid attention (G of Eq. 8) or self-attention
    use_context: bool  # trained with SN/SD/TN tiles and the unsupervised losses
    use_location: bool = False  # the county's frozen location embedding joins the pooled representation


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("semi-ha", "semi-supervised hybrid attention (the paper's SEMI-HA)", True, True),
        ModelSpec(
            "semi-ha-loc",
            "SEMI-HA with the location encoder's embedding of the county's anchor centre (frozen, beyond the paper)",
            True,
            True,
            True,
        ),
        ModelSpec("s-ha", "supervised-only hybrid attention (S-HA): no context tiles, no unsupervised loss", True, False),
        ModelSpec("semi-sa", "semi-supervised self-attention (SEMI-SA): SEMI-HA without the global query G", False, True),
    )
}
"""The neural models, by name."""

BASELINE_NAMES: tuple[str, ...] = ("ridge", "rf", "mlp", "lstm-gp", "cnn-gp", "c3d", "cnn-lstm")
"""The paper's baselines (Section IV-B), which are not a :class:`YieldModel` (:mod:`geoapp.models.baselines`)."""

MODEL_NAMES: tuple[str, ...] = (*MODELS, *BASELINE_NAMES)
"""Every model name the app knows: the attention models (the paper's three and ``semi-ha-loc``), then the seven baselines."""

_SET_BY_NAME = ("use_global_query", "use_context", "use_location")

_LOCATION_FIELDS = ("use_location", "location_dim", "location_rows")
"""Fields of the location extension: written to a card only for a model that uses it (other cards stay as before)."""


INT_FIELD_MAX: dict[str, int] = {
    "in_channels": 64,
    "n_steps": 64,
    "embed_dim": 8192,
    "cnn_width": 1024,
    "heads": 128,
    "layers": 64,
    "ff_dim": 65536,
}
"""Largest sizes a config may ask for (far above the paper's; beyond them a model no longer fits in memory)."""


@dataclass(frozen=True)
class YieldModelConfig:
    """Everything that defines a :class:`YieldModel`, with the paper-size defaults.

    Validated on creation (``InputError`` names the bad field); :meth:`from_dict` rejects unknown keys.
    Build one by name with :func:`yield_model_config` rather than by hand.
    """

    # what the model is (set by its name, see MODELS)
    use_global_query: bool = True  # add the learned global query G (Eq. 8); False: self-attention
    use_context: bool = True  # SN/SD/TN context tiles and the unsupervised losses (Eq. 3-6)
    use_location: bool = False  # add the projected frozen county location embedding to the pooled representation
    # inputs
    in_channels: int = 9  # bands d, in geoapp.data.bands.BANDS order
    n_steps: int = 7  # months T (March..September)
    # spatial encoder g(.)
    embed_dim: int = 512  # embedding size m (even, divisible by heads)
    cnn_width: int = 64  # channels of the first ResNet stage (64 = ResNet-18)
    small_input: bool = False  # 3x3 stride-1 stem for small tiles (16 px) instead of 7x7/2 + max-pool
    # hybrid attention (Eq. 7-12 + feed-forward)
    heads: int = 8  # h
    layers: int = 2  # N
    ff_dim: int = 2048  # hidden size of the position-wise feed-forward network
    dropout: float = 0.1  # on each attention sublayer's output
    global_query_init_std: float = 0.02  # G ~ N(0, std^2) at initialisation
    norm_first: bool = False  # LayerNorm after each residual ([13]); True: before each sublayer
    # output scale: prediction = target_mean + target_std * head(pooled), in bu/acre
    target_mean: float = 0.0  # set by the trainer to the training labels' mean
    target_std: float = 1.0  # and standard deviation, so the head starts at the right scale
    # loss, Eq. 2-6 (used by YieldModel.loss)
    alpha: float = DEFAULT_ALPHA  # weight of the unsupervised part (paper 0.2; 0.1 for 2016)
    beta: float = DEFAULT_BETA  # weight of the temporal term L_UT
    gamma: float = DEFAULT_GAMMA  # weight of the hypersphere regulariser L_R
    margin_per_dim: float = 1.0  # margin p of Eq. 3 = margin_per_dim * embed_dim (see yield_losses)
    # location embeddings (use_location only; 0 otherwise): set by the trainer from the county table
    location_dim: int = 0  # D, size of the location encoder's embedding (256 for the shipped encoder)
    location_rows: int = 0  # rows of the table: the dataset's counties (rows of ds.counties)
    location_film: bool = False  # also scale the pooled representation by the location (FiLM), not only shift it

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "bool":
                if not isinstance(value, bool):
                    raise InputError(f"config field {f.name!r} must be true or false; got {value!r}")
            elif f.type == "int" and f.name in ("location_dim", "location_rows"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise InputError(f"config field {f.name!r} must be a whole number >= 0; got {value!r}")
            elif f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise InputError(f"config field {f.name!r} must be a positive integer; got {value!r}")
                most = INT_FIELD_MAX.get(f.name)
                if most is not None and value > most:  # a size that would not fit in memory
                    raise InputError(f"config field {f.name!r} must be at most {most}; got {value!r}")
            elif f.type == "float":
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    raise InputError(f"config field {f.name!r} must be a finite number; got {value!r}")
                object.__setattr__(self, f.name, float(value))
                if f.name != "target_mean" and value < 0:
                    raise InputError(f"config field {f.name!r} must be >= 0; got {value!r}")
        if self.embed_dim % 2 or self.embed_dim % self.heads:
            raise InputError(
                "embed_dim must be even (Eq. 7) and divisible by heads (Eq. 9); "
                f"got embed_dim={self.embed_dim}, heads={self.heads}"
            )
        if self.dropout >= 1:
            raise InputError(f"config field 'dropout' must be in [0, 1); got {self.dropout!r}")
        if self.target_std <= 0:
            raise InputError(f"config field 'target_std' must be > 0 (bu/acre); got {self.target_std!r}")
        if self.use_location and (self.location_dim < 1 or self.location_rows < 1):
            raise InputError(
                "a model with location (use_location, e.g. 'semi-ha-loc') needs location_dim >= 1 and location_rows >= 1 "
                f"(the county embedding table's size, set by the trainer); got location_dim={self.location_dim}, "
                f"location_rows={self.location_rows}"
            )
        if self.location_film and not self.use_location:
            raise InputError(
                "location_film scales the pooled representation by the county's location embedding; it needs a model "
                "with location ('semi-ha-loc'); got location_film=True with use_location=False"
            )
        if not self.use_location and (self.location_dim or self.location_rows):
            raise InputError(
                "location_dim and location_rows are for a model with location ('semi-ha-loc'); got "
                f"location_dim={self.location_dim}, location_rows={self.location_rows} with use_location=False"
            )

    @property
    def margin(self) -> float:
        """The margin p of Eq. 3, in squared embedding units."""
        return self.margin_per_dim * self.embed_dim

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-ready dict (for checkpoint cards).

        The location fields are left out for a model without location, so its card is what it was
        before they existed (a resumed run compares the card's config with its own).
        """
        values = dataclasses.asdict(self)
        if not self.use_location:
            for name in _LOCATION_FIELDS:
                del values[name]
        if not self.location_film:  # as the cards written before the option existed
            del values["location_film"]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> YieldModelConfig:
        """Config from a mapping (e.g. a checkpoint card); unknown keys raise ``InputError``."""
        hint = " (a card from another code version or another model family?)"
        return strict_from_dict(cls, values, "yield-model", keys="config key(s)", hint=hint)


SIZES: dict[str, dict[str, Any]] = {
    "paper": {},  # the YieldModelConfig defaults: for GPUs and the paper's 50 x 50 px tiles
    "demo": {"embed_dim": 64, "cnn_width": 8, "small_input": True, "heads": 2, "layers": 1, "ff_dim": 128},
}
"""Named sizes as overrides of the :class:`YieldModelConfig` defaults (only the fields that differ)."""


def _check_name(name: object) -> ModelSpec:
    if isinstance(name, str) and name in BASELINE_NAMES:
        raise InputError(
            f"{name!r} is a baseline of Section IV-B, not an attention YieldModel; build and train it through "
            f"geoapp.training.model_kinds. Attention models: {sorted(MODELS)}"
        )
    if not isinstance(name, str) or name not in MODELS:
        raise InputError(f"unknown yield model {name!r}; expected one of {list(MODEL_NAMES)}")
    return MODELS[name]


def yield_model_config(name: str, size: str = "demo", **overrides: Any) -> YieldModelConfig:
    """Return the config of a named model at a named size, with optional field overrides.

    Args:
        name: ``semi-ha``, ``s-ha``, ``semi-sa`` or ``semi-ha-loc`` (``ridge`` is refused: not a YieldModel).
        size: ``demo`` (CPU) or ``paper`` (GPU).
        **overrides: YieldModelConfig fields to change (not ``use_global_query``/``use_context``/
            ``use_location``, which the name sets). ``semi-ha-loc`` needs ``location_dim`` and
            ``location_rows`` (the size of its county table).

    Raises:
        InputError: unknown name, size or field, a field the name sets, or an invalid value.
    """
    spec = _check_name(name)
    if not isinstance(size, str) or size not in SIZES:
        raise InputError(f"unknown model size {size!r}; expected one of {list(SIZES)}")
    fixed = sorted(set(overrides) & set(_SET_BY_NAME))
    if fixed:
        raise InputError(f"{fixed} are set by the model name {name!r}; pick another name instead (one of {list(MODELS)})")
    allowed = [f.name for f in dataclasses.fields(YieldModelConfig) if f.name not in _SET_BY_NAME]
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise InputError(f"unknown yield-model config key(s) {unknown}; allowed: {allowed}")
    switches = {"use_global_query": spec.use_global_query, "use_context": spec.use_context, "use_location": spec.use_location}
    values = {**SIZES[size], **overrides, **switches}
    return YieldModelConfig(**values)


@dataclass
class QuadrupletOutput:
    """What :meth:`YieldModel.forward_quadruplet` returns.

    Attributes:
        prediction: (B,) predicted yields of the anchors, bu/acre.
        anchor, sn, sd, tn: (B, T, m) embeddings g(.) of the anchor and its context tiles.
        attention: (layers, B, heads, T, T) attention of the anchors, when asked for.
    """

    prediction: Tensor
    anchor: Tensor
    sn: Tensor
    sd: Tensor
    tn: Tensor
    attention: Tensor | None = None

    @property
    def context(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(anchor, sn, sd, tn), the ``context`` argument of :func:`~geoapp.models.yield_losses.yield_loss`."""
        return self.anchor, self.sn, self.sd, self.tn


def _is_previous_month(tn: Tensor, anchor: Tensor) -> bool:
    """True when every TN series is its anchor one month earlier (month 1: the anchor's own first month)."""
    return bool(torch.equal(tn[:, 1:], anchor[:, :-1]) and torch.equal(tn[:, :1], anchor[:, :1]))


class YieldModel(nn.Module):
    """CNN per month -> hybrid attention -> temporal mean pooling -> fully connected layer -> yield.

    Args:
        config: the architecture, output scale and loss weights (:func:`yield_model_config`).

    Inputs are tiles of shape (B, T, C, H, W): B examples, T months in calendar order, C bands in
    ``BANDS`` order, already standardised per month and band; non-finite values raise ``InputError``
    (fill them upstream and count them). Call ``model.eval()`` before predicting: in training mode
    BatchNorm normalises with the batch's statistics, so an example's output depends on its batch.

    A model with location (``semi-ha-loc``) also takes ``county``, the (B,) int64 rows of the examples'
    counties in ``ds.counties``: its frozen ``location.table`` row is projected and added to the
    pooled representation (:mod:`geoapp.models.county_location`). Other models ignore ``county``.
    """

    def __init__(self, config: YieldModelConfig) -> None:
        super().__init__()
        if not isinstance(config, YieldModelConfig):
            raise InputError(f"YieldModel needs a YieldModelConfig; got {type(config).__name__} (see yield_model_config)")
        self.config = config
        self.encoder = ResNetEncoder(config.in_channels, config.embed_dim, config.cnn_width, config.small_input)  # g(.)
        self.attention = HybridAttentionEncoder(
            config.embed_dim,
            n_steps=config.n_steps,
            heads=config.heads,
            layers=config.layers,
            ff_dim=config.ff_dim,
            dropout=config.dropout,
            use_global_query=config.use_global_query,
            global_query_init_std=config.global_query_init_std,
            norm_first=config.norm_first,
        )
        # semi-ha-loc: frozen county location embeddings + learned projection to m (None for the others)
        self.location = (
            CountyLocation(config.location_rows, config.location_dim, config.embed_dim, film=config.location_film)
            if config.use_location
            else None
        )
        self.head = nn.Linear(config.embed_dim, 1)

    def _location_term(self, county: Tensor | None, batch: int) -> tuple[Tensor, Tensor | None] | None:
        """(shift, scale or None), each (B, m), of ``county``'s location embeddings; None for a model without location."""
        if self.location is None:
            return None
        if county is None:
            raise InputError(
                "this model (use_location, e.g. 'semi-ha-loc') needs the examples' county rows: "
                "pass county=(B,) int64 rows of ds.counties"
            )
        if county.dim() != 1 or len(county) != batch:
            raise InputError(f"county must hold one row per example ({batch}); got shape {tuple(county.shape)}")
        return self.location(county)

    def _check_tiles(self, tiles: Tensor, what: str) -> None:
        c = self.config
        if tiles.dim() != 5 or tiles.shape[1] != c.n_steps or tiles.shape[2] != c.in_channels:
            raise InputError(f"{what} tiles must be (B, T={c.n_steps}, C={c.in_channels}, H, W); got {tuple(tiles.shape)}")
        if not torch.isfinite(tiles).all():
            bad = int((~torch.isfinite(tiles)).sum())
            raise InputError(f"{what} tiles hold {bad} non-finite values (NaN/inf); fill them before the model")

    def _embed(self, tiles: Tensor) -> Tensor:
        b, t = tiles.shape[:2]
        return self.encoder(tiles.reshape(b * t, *tiles.shape[2:])).view(b, t, -1)

    def embed(self, tiles: Tensor) -> Tensor:
        """g(.) applied to every month with shared weights: (B, T, C, H, W) -> (B, T, m).

        Works for anchor and context tiles (SN, SD, TN) alike.
        """
        self._check_tiles(tiles, "input")
        return self._embed(tiles)

    def predict_from_embeddings(
        self, embeddings: Tensor, return_attention: bool = False, county: Tensor | None = None
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attention, mean over months and the head: (B, T, m) -> (B,) bu/acre [, (layers, B, h, T, T)].

        With location, ``county`` (B,) int64 rows of ``ds.counties``: their projected embeddings are
        added to the pooled (B, m) representation before the head; with ``location_film`` the pooled
        representation is also scaled, ``pooled * (1 + scale) + shift`` (feature-wise linear modulation,
        Perez et al. 2018), so how the head reads the months' features can vary with place.
        """
        out = self.attention(embeddings, return_attention=return_attention)
        refined, attention = out if return_attention else (out, None)
        pooled = refined.mean(dim=1)  # temporal mean pooling
        location = self._location_term(county, embeddings.shape[0])
        if location is not None:
            shift, scale = location
            if scale is not None:
                pooled = pooled * (1.0 + scale.to(pooled.dtype))
            pooled = pooled + shift.to(pooled.dtype)
        prediction = self.config.target_mean + self.config.target_std * self.head(pooled).squeeze(-1)
        return (prediction, attention) if return_attention else prediction  # type: ignore[return-value]

    def forward(
        self, tiles: Tensor, county: Tensor | None = None, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Predict yields from anchor tiles.

        Args:
            tiles: (B, T, C, H, W) standardised anchor tiles.
            county: (B,) int64 rows of ``ds.counties`` of the examples; needed with location
                (``semi-ha-loc``), ignored otherwise.
            return_attention: also return the attention S of every layer and head.

        Returns:
            (B,) yields in bu/acre; with ``return_attention`` also a (layers, B, heads, T, T) tensor.
        """
        return self.predict_from_embeddings(self.embed(tiles), return_attention, county)

    def for_inference(self) -> YieldModel:
        """An eval-mode copy with the CNN's BatchNorm folded into its convolutions (faster on CPU).

        Same predictions to float32 rounding; see :func:`geoapp.models.resnet.fold_batchnorm`.
        """
        net = copy.deepcopy(self).eval()  # this model keeps its mode and weights
        net.encoder = fold_batchnorm(net.encoder)
        return net

    def forward_quadruplet(
        self,
        anchor: Tensor,
        sn: Tensor,
        sd: Tensor,
        tn: Tensor,
        return_attention: bool = False,
        county: Tensor | None = None,
    ) -> QuadrupletOutput:
        """Predict from the anchors and embed all four tile series in one CNN pass (training SEMI-HA/SEMI-SA).

        When TN is the anchor one month earlier (the paper's temporal neighbour: ``tn[:, t] ==
        anchor[:, t - 1]``, month 1 repeating the anchor's, as
        :meth:`~geoapp.training.yield_data.YieldTileSource.context_tiles` cuts it), the CNN does not
        embed those tiles again: g(TN^t) is g(A^(t-1)), taken from the anchors' embeddings with the
        same gradient path. That is a quarter of the CNN's work per step. The one difference from
        embedding them again is BatchNorm's batch statistics in training, which then count each
        anchor tile once instead of twice. The check compares the tiles (exact equality), so any
        other TN (the previous year's) is embedded as before.

        Args:
            anchor: (B, T, C, H, W) standardised anchor tiles.
            sn: (B, T, C, H, W) tiles of the spatial neighbours.
            sd: (B, T, C, H, W) tiles of the spatial distant samples.
            tn: (B, T, C, H, W) tiles of the temporal neighbours.
            return_attention: also return the anchors' attention.
            county: (B,) int64 county rows of the anchors (with location; ignored otherwise).

        Raises:
            InputError: for a model without context (``s-ha``), or tiles of different shapes.
        """
        if not self.config.use_context:
            raise InputError("this model (use_context=False, e.g. 's-ha') is trained without context tiles; call forward()")
        for tiles, what in ((anchor, "anchor"), (sn, "sn"), (sd, "sd"), (tn, "tn")):
            self._check_tiles(tiles, what)
            if tiles.shape != anchor.shape:
                raise InputError(f"{what} tiles have shape {tuple(tiles.shape)}, the anchors {tuple(anchor.shape)}")
        b = anchor.shape[0]
        if _is_previous_month(tn, anchor):  # TN^t = A^(t-1): its embeddings are the anchor's, shifted
            emb_a, emb_sn, emb_sd = self._embed(torch.cat([anchor, sn, sd])).split(b)  # one pass: BatchNorm sees all
            emb_tn = torch.cat([emb_a[:, :1], emb_a[:, :-1]], dim=1)
        else:
            emb_a, emb_sn, emb_sd, emb_tn = self._embed(torch.cat([anchor, sn, sd, tn])).split(b)
        out = self.predict_from_embeddings(emb_a, return_attention, county)
        prediction, attention = out if return_attention else (out, None)
        return QuadrupletOutput(prediction, emb_a, emb_sn, emb_sd, emb_tn, attention)  # type: ignore[arg-type]

    def loss(
        self, prediction: Tensor, target: Tensor, context: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """Eq. 2 with this config's alpha, beta, gamma and margin; see :func:`~geoapp.models.yield_losses.yield_loss`.

        Args:
            prediction: (B,) predicted yields, bu/acre.
            target: (B,) true yields, bu/acre.
            context: ``QuadrupletOutput.context`` for models with context; None for ``s-ha``.
        """
        c = self.config
        if c.use_context and context is None:
            raise InputError("this model is trained with context tiles: pass forward_quadruplet(...).context")
        if not c.use_context and context is not None:
            raise InputError("this model (use_context=False, e.g. 's-ha') takes no unsupervised loss; pass context=None")
        return yield_loss(prediction, target, context, margin=c.margin, alpha=c.alpha, beta=c.beta, gamma=c.gamma)


def build_yield_model(name: str, size: str = "demo", **overrides: Any) -> YieldModel:
    """Build a freshly initialised :class:`YieldModel` by name (see :func:`yield_model_config`)."""
    return YieldModel(yield_model_config(name, size, **overrides))
