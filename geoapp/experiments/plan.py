"""Experiment plans: which crop-yield runs make up a study (Section IV of the SEMI-HA paper).

A run is one (model, test year, N_y, seed, excluded feature group, training overrides) trained with
the temporal nested validation of Section IV-D: test year y, validation year y - 1, training years
y - N_y - 1 .. y - 2. A plan is a list of *blocks*, each a product models x test years x N_y x seeds x
excluded groups with one set of training overrides (:class:`~geoapp.training.yield_trainer.YieldTrainConfig`
fields such as ``epochs``); its runs are the blocks' runs in order, without repeats.

Named plans (:data:`PLANS`):

- ``baselines``: every model of the paper at N_y = 10, test years 2014-2018, seed 0 (Tables I and II).
- ``seeds``: SEMI-HA and S-HA with seeds 1 and 2 as well (mean +/- sd over three seeds).
- ``scarcity``: SEMI-HA, S-HA, C3D and CNN-LSTM at N_y = 7 and 4 (Figures 5 and 6; N_y = 10 is in ``baselines``).
- ``ablation``: SEMI-HA retrained without each feature group VI, LST, PPT, SOIL, ELE (Figure 7), with the
  all-inputs runs it is compared with (plan ``baselines``' SEMI-HA runs: shared keys, not trained again).
- ``paper``: all of the above, the study the app reports.
- ``trend``: the ``baselines`` runs again with ``trend = linear`` (a yield trend fitted on the training
  years is removed from the targets and added back; :mod:`geoapp.training.trend`): the report sets them
  beside the runs without it.
- ``location``: beyond the paper, ``semi-ha-loc`` (SEMI-HA with a frozen location embedding of each
  county, :mod:`geoapp.models.county_location`) with seeds 0, 1 and 2, N_y = 10, test years 2014-2018:
  the report sets it beside SEMI-HA's three seeds of plan ``seeds`` (part of ``paper``).
- ``context``: beyond the paper, SEMI-HA's context-loss weight alpha (Eq. 2) at N_y = 4, seed 0, test years
  2014-2018: alpha = 0.02, 0.05 and 0.1 beside the default 0.2 (plan ``scarcity``'s run) and S-HA (the
  alpha = 0 end, no context tiles); the report chooses alpha per test year on its validation year.
- ``augment``: beyond the paper, the models on tiles trained with dihedral augmentation (``augment =
  dihedral``: each training example's tiles turned by one of the eight symmetries of the square,
  :mod:`geoapp.training.augment`) and an early-stopping patience of 10, N_y = 10, test years 2014-2018:
  S-HA, SEMI-HA, ``semi-ha-loc``, C3D and CNN-LSTM with seed 0; S-HA with patience 10 and no
  augmentation (the control: what the longer patience alone does); then S-HA and SEMI-HA with seeds 1
  and 2. The report sets each beside the same model and seeds trained with the defaults.
- ``smoke``: S-HA and ridge for one test year, one short epoch on a subsample: checks the whole path in minutes.

A plan may also come from a JSON file (:func:`load_plan_file`) with the same fields. Which model names
exist is read at run time from :data:`geoapp.models.yield_models.MODEL_NAMES` (:func:`check_plan`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoapp.data.args import as_int, as_path, given
from geoapp.data.bands import FEATURE_GROUPS
from geoapp.errors import DataFileError, InputError

__all__ = [
    "PAPER_MODELS",
    "PAPER_YEARS",
    "CONTEXT_ALPHAS",
    "AUGMENT_MODELS",
    "AUGMENT_OVERRIDES",
    "AUGMENT_EMA",
    "RunSpec",
    "Block",
    "Plan",
    "PLANS",
    "IDENTITY_FIELDS",
    "get_plan",
    "plan_from_dict",
    "load_plan_file",
    "check_plan",
]

PAPER_MODELS: tuple[str, ...] = ("ridge", "rf", "mlp", "lstm-gp", "cnn-gp", "c3d", "cnn-lstm", "s-ha", "semi-sa", "semi-ha")
"""The ten models of Tables I and II, in the paper's row order (``ridge`` is the paper's LR)."""

PAPER_YEARS: tuple[int, ...] = (2014, 2015, 2016, 2017, 2018)
"""The paper's test years (Section IV-D)."""

IDENTITY_FIELDS: tuple[str, ...] = ("model", "test_year", "n_train_years", "seed", "exclude_group")
"""YieldTrainConfig fields a block sets through its products; overrides may not set them."""

_NOT_OVERRIDABLE = (*IDENTITY_FIELDS, "device")  # the device is chosen where the run trains, not by the plan


@dataclass(frozen=True)
class RunSpec:
    """One run of a plan.

    Attributes:
        model: a name of :data:`~geoapp.models.yield_models.MODEL_NAMES` (``semi-ha``, ``ridge``, ...).
        test_year: the held-out year y; validation is y - 1.
        n_train_years: N_y, the training years y - N_y - 1 .. y - 2.
        seed: random seed of the run.
        exclude_group: feature group left out of the inputs (VI, LST, PPT, SOIL, ELE), or None for all.
        overrides: other YieldTrainConfig fields (e.g. ``{"epochs": 1}``); ``{}`` for the trainer's defaults.
    """

    model: str
    test_year: int
    n_train_years: int
    seed: int
    exclude_group: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """The run's identity as canonical JSON: two runs with the same key are the same experiment."""
        return json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))

    def identity(self) -> dict[str, Any]:
        """The identity fields and the overrides as a plain dict (what the results store records as ``key``)."""
        return {
            "model": self.model,
            "test_year": int(self.test_year),
            "n_train_years": int(self.n_train_years),
            "seed": int(self.seed),
            "exclude_group": self.exclude_group,
            "overrides": dict(self.overrides),
        }

    @property
    def name(self) -> str:
        """A readable folder and job name, e.g. ``semi-ha-2016-ny10-seed0-no-VI`` (a hash suffix for overrides)."""
        name = f"{self.model}-{self.test_year}-ny{self.n_train_years}-seed{self.seed}"
        if self.exclude_group:
            name += f"-no-{self.exclude_group}"
        if self.overrides:
            digest = hashlib.sha1(json.dumps(dict(self.overrides), sort_keys=True).encode()).hexdigest()[:6]
            name += f"-o{digest}"
        return name

    def train_config(self) -> dict[str, Any]:
        """The YieldTrainConfig values of the run (identity fields plus overrides)."""
        return {k: v for k, v in self.identity().items() if k != "overrides"} | dict(self.overrides)

    @classmethod
    def from_identity(cls, values: Mapping[str, Any]) -> RunSpec:
        """Rebuild a run from :meth:`identity` (as the results store keeps it).

        Raises:
            InputError: a field is missing or of the wrong type.
        """
        if not isinstance(values, Mapping) or set(values) != {*IDENTITY_FIELDS, "overrides"}:
            raise InputError(f"a run key must name exactly {[*IDENTITY_FIELDS, 'overrides']}, got {given(values)}")
        overrides = values["overrides"]
        if not isinstance(overrides, Mapping):
            raise InputError(f"a run key's overrides must be an object, got {given(overrides)}")
        return cls(
            model=str(values["model"]),
            test_year=as_int(values["test_year"], "test_year"),
            n_train_years=as_int(values["n_train_years"], "n_train_years", minimum=1),
            seed=as_int(values["seed"], "seed", minimum=0),
            exclude_group=values["exclude_group"],
            overrides=dict(overrides),
        )


@dataclass(frozen=True)
class Block:
    """A product of runs: models x test years x N_y x seeds x excluded groups, one set of overrides.

    ``exclude_groups`` holds None for "all inputs" and/or group names.
    """

    models: tuple[str, ...]
    test_years: tuple[int, ...] = PAPER_YEARS
    n_train_years: tuple[int, ...] = (10,)
    seeds: tuple[int, ...] = (0,)
    exclude_groups: tuple[str | None, ...] = (None,)
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def runs(self) -> list[RunSpec]:
        """The block's runs, model by model, then N_y, excluded group, seed and test year."""
        return [
            RunSpec(m, y, n, s, g, dict(self.overrides))
            for m in self.models
            for n in self.n_train_years
            for g in self.exclude_groups
            for s in self.seeds
            for y in self.test_years
        ]


@dataclass(frozen=True)
class Plan:
    """A named list of blocks."""

    name: str
    description: str
    blocks: tuple[Block, ...]

    def runs(self) -> list[RunSpec]:
        """Every run of the plan, in block order, each once."""
        seen: set[str] = set()
        out = []
        for block in self.blocks:
            for run in block.runs():
                if run.key() not in seen:
                    seen.add(run.key())
                    out.append(run)
        return out

    def models(self) -> list[str]:
        """The plan's models in first-mentioned order."""
        return list(dict.fromkeys(m for b in self.blocks for m in b.models))

    def only(self, models: Iterable[str]) -> Plan:
        """The same plan restricted to ``models`` (blocks left without a model are dropped).

        Raises:
            InputError: a name in ``models`` is not one of the plan's models.
        """
        wanted = list(dict.fromkeys(models))
        unknown = [m for m in wanted if m not in self.models()]
        if unknown:
            raise InputError(f"plan {self.name!r} has no model(s) {unknown}; its models are {self.models()}")
        blocks = []
        for b in self.blocks:
            kept = tuple(m for m in b.models if m in wanted)
            if kept:
                blocks.append(Block(kept, b.test_years, b.n_train_years, b.seeds, b.exclude_groups, b.overrides))
        return Plan(self.name, self.description, tuple(blocks))


# ---- the named plans -------------------------------------------------------------------------
_BASELINES = Block(PAPER_MODELS)
_SEEDS = Block(("semi-ha", "s-ha"), seeds=(0, 1, 2))
_SCARCITY = Block(("semi-ha", "s-ha", "c3d", "cnn-lstm"), n_train_years=(7, 4))
_ABLATION = Block(("semi-ha",), exclude_groups=tuple(FEATURE_GROUPS))
_TREND = Block(PAPER_MODELS, overrides={"trend": "linear"})
_LOCATION = Block(("semi-ha-loc",), seeds=(0, 1, 2))
CONTEXT_ALPHAS: tuple[float, ...] = (0.02, 0.05, 0.1)
"""The context-loss weights plan ``context`` trains SEMI-HA with, beside the default (``DEFAULT_ALPHA``, 0.2)."""
_CONTEXT = (
    Block(("s-ha", "semi-ha"), n_train_years=(4,)),  # the alpha = 0 end and the default: plan scarcity's runs
    *(Block(("semi-ha",), n_train_years=(4,), overrides={"model_overrides": {"alpha": a}}) for a in CONTEXT_ALPHAS),
)
AUGMENT_MODELS: tuple[str, ...] = ("s-ha", "semi-ha", "semi-ha-loc", "c3d", "cnn-lstm")
"""The models plan ``augment`` trains with dihedral augmentation: every model that reads whole tiles (SEMI-SA left out)."""
AUGMENT_OVERRIDES: dict[str, Any] = {"augment": "dihedral", "patience": 10}
"""Plan ``augment``'s training overrides: the augmentation, and a longer early-stopping patience (10 epochs, not 6):
with turned tiles the validation RMSE keeps falling for longer, and a patience of 6 stops most runs
before it has (measured: S-HA 2018, seed 0, best epoch 11 at patience 6 and 21 at 10)."""
AUGMENT_EMA: float = 0.995
"""The decay of the moving average of the weights in plan ``augment``'s S-HA runs with ``ema``
(the settings of the shipped ensembles' members)."""
_AUGMENT = (
    Block(AUGMENT_MODELS, overrides=AUGMENT_OVERRIDES),
    Block(("s-ha",), overrides={"patience": 10}),  # the control: the longer patience alone, no augmentation
    Block(("s-ha", "semi-ha"), seeds=(1, 2), overrides=AUGMENT_OVERRIDES),
    Block(("s-ha",), seeds=(0, 1, 2), overrides={**AUGMENT_OVERRIDES, "ema": AUGMENT_EMA}),
)
_SMOKE = Block(
    ("s-ha", "ridge"), test_years=(2018,), n_train_years=(4,), overrides={"epochs": 1, "patience": 1, "max_train_examples": 256}
)

PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan(
            "paper",
            "the whole study: Tables I/II, three seeds of SEMI-HA and S-HA, N_y = 7 and 4, Figure 7",
            (_BASELINES, _SEEDS, _SCARCITY, _ABLATION),
        ),
        Plan("baselines", "every model, N_y = 10, test years 2014-2018, seed 0 (Tables I and II)", (_BASELINES,)),
        Plan("seeds", "SEMI-HA and S-HA with seeds 0, 1 and 2 (N_y = 10)", (_SEEDS,)),
        Plan("scarcity", "SEMI-HA, S-HA, C3D, CNN-LSTM at N_y = 7 and 4 (Figures 5 and 6)", (_SCARCITY,)),
        Plan(
            "ablation",
            "SEMI-HA without each feature group (Figure 7), beside SEMI-HA with all inputs (plan baselines' runs)",
            (Block(("semi-ha",)), _ABLATION),
        ),
        Plan(
            "trend",
            "every model with a linear yield trend fitted on its training years (trend = linear), N_y = 10, seed 0: "
            "beside the baselines plan, with and without the trend",
            (_TREND,),
        ),
        Plan(
            "location",
            "semi-ha-loc (SEMI-HA + frozen county location embedding) with seeds 0, 1 and 2, N_y = 10: "
            "beside SEMI-HA's seeds of plan seeds",
            (_LOCATION,),
        ),
        Plan(
            "context",
            "SEMI-HA's context-loss weight alpha = 0.02, 0.05, 0.1 and 0.2 (the default) beside S-HA (alpha = 0), N_y = 4, "
            "seed 0: alpha chosen per test year on the validation year",
            _CONTEXT,
        ),
        Plan(
            "augment",
            "the models on tiles with dihedral augmentation and patience 10, N_y = 10: S-HA, SEMI-HA, semi-ha-loc, C3D, "
            "CNN-LSTM with seed 0, S-HA with patience 10 alone (control), S-HA and SEMI-HA with seeds 1 and 2, S-HA with a "
            "moving average of its weights (ema 0.995) with seeds 0-2, beside the same runs with the defaults",
            _AUGMENT,
        ),
        Plan("smoke", "S-HA and ridge, test year 2018, N_y = 4, one short epoch on 256 examples: checks the path", (_SMOKE,)),
    )
}
"""The named plans (``python -m geoapp experiments run --plan NAME``)."""


def get_plan(name: str) -> Plan:
    """The named plan.

    Raises:
        InputError: no plan of that name.
    """
    if not isinstance(name, str) or name not in PLANS:
        raise InputError(f"unknown experiment plan {name!r}; expected one of {list(PLANS)} (or a JSON file with --plan-file)")
    return PLANS[name]


# ---- plans from JSON ---------------------------------------------------------------------------
_BLOCK_KEYS = {"models", "test_years", "n_train_years", "seeds", "exclude_groups", "overrides"}


def _int_list(values: Any, what: str, minimum: int | None = None) -> tuple[int, ...]:
    if not isinstance(values, list) or not values:
        raise InputError(f"{what} must be a non-empty list of whole numbers, got {given(values)}")
    return tuple(as_int(v, what, minimum=minimum) for v in values)


def _block_from_dict(values: Any, where: str) -> Block:
    """One block from JSON, every field checked (the overrides by YieldTrainConfig itself)."""
    if not isinstance(values, dict):
        raise InputError(f"{where} must be an object with {sorted(_BLOCK_KEYS)}, got {given(values)}")
    unknown = sorted(set(values) - _BLOCK_KEYS, key=str)
    if unknown:
        raise InputError(f"{where} has unknown key(s) {unknown}; expected some of {sorted(_BLOCK_KEYS)}")
    models = values.get("models")
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise InputError(f"{where}: models must be a non-empty list of model names, got {given(models)}")
    groups = values.get("exclude_groups", [None])
    if not isinstance(groups, list) or not groups or any(g is not None and g not in FEATURE_GROUPS for g in groups):
        raise InputError(
            f"{where}: exclude_groups must be a non-empty list of null (all inputs) or feature groups "
            f"{list(FEATURE_GROUPS)}, got {given(groups)}"
        )
    overrides = values.get("overrides", {})
    _check_overrides(overrides, where)
    return Block(
        models=tuple(models),
        test_years=_int_list(values.get("test_years", list(PAPER_YEARS)), f"{where}: test_years"),
        n_train_years=_int_list(values.get("n_train_years", [10]), f"{where}: n_train_years", minimum=1),
        seeds=_int_list(values.get("seeds", [0]), f"{where}: seeds", minimum=0),
        exclude_groups=tuple(groups),
        overrides=dict(overrides),
    )


def _check_overrides(overrides: Any, where: str) -> None:
    """Refuse overrides that are not YieldTrainConfig fields, set an identity field, or hold bad values."""
    from geoapp.training.yield_trainer import YieldTrainConfig

    if not isinstance(overrides, dict):
        raise InputError(f"{where}: overrides must be an object of training settings, got {given(overrides)}")
    fixed = sorted(set(overrides) & set(_NOT_OVERRIDABLE))
    if fixed:
        raise InputError(
            f"{where}: overrides may not set {fixed}: the models, years, N_y, seeds and groups are the block's own "
            "lists, and the device is chosen where the run trains"
        )
    YieldTrainConfig.from_dict(dict(overrides))  # unknown keys and bad values: the trainer's own message


def plan_from_dict(values: Any, default_name: str = "custom") -> Plan:
    """A plan from a dict: ``{"name", "description", "blocks": [block, ...]}`` or one block's fields at the top.

    Raises:
        InputError: a key is unknown, a list is empty or holds a value of the wrong type, or an
            override is not a valid YieldTrainConfig setting.
    """
    if not isinstance(values, dict):
        raise InputError(f"a plan must be a JSON object, got {given(values)}")
    values = dict(values)
    name = values.pop("name", default_name)
    description = values.pop("description", "")
    if not isinstance(name, str) or not name or name in PLANS:
        raise InputError(f"a plan file's name must be a text other than the named plans {list(PLANS)}, got {given(name)}")
    if not isinstance(description, str):
        raise InputError(f"a plan's description must be text, got {given(description)}")
    if "blocks" in values:
        extra = sorted(set(values) - {"blocks"}, key=str)
        if extra:
            raise InputError(f"a plan with 'blocks' takes only name and description beside them; got also {extra}")
        blocks = values["blocks"]
        if not isinstance(blocks, list) or not blocks:
            raise InputError(f"blocks must be a non-empty list of objects, got {given(blocks)}")
        return Plan(name, description, tuple(_block_from_dict(b, f"block {i + 1}") for i, b in enumerate(blocks)))
    return Plan(name, description, (_block_from_dict(values, "the plan"),))


def load_plan_file(path: str | Path) -> Plan:
    """A plan from a JSON file (see :func:`plan_from_dict`); its name defaults to the file's stem.

    Raises:
        DataFileError: the file cannot be read or is not JSON.
        InputError: the plan's content is invalid.
    """
    path = as_path(path, "plan file")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(f"cannot read the plan file {str(path)!r}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise DataFileError(f"the plan file {str(path)!r} is not valid JSON: {exc}") from exc
    return plan_from_dict(values, default_name=path.stem)


# ---- checking a plan against the code and the data ----------------------------------------------
def check_plan(plan: Plan, years: Sequence[int], known_models: Sequence[str] | None = None) -> list[RunSpec]:
    """The plan's runs, once every model is known and every run's years are in the data.

    Args:
        plan: the plan.
        years: the dataset's years (``ds.years``).
        known_models: model names geoapp can train (default :data:`~geoapp.models.yield_models.MODEL_NAMES`,
            read now, so models added to geoapp are accepted without changing plans).

    Raises:
        InputError: a model name is unknown (all are named, with the known ones), a test year is not in
            the data, or a test year with its N_y needs years the data lacks (too large an N_y).
    """
    from geoapp.training.yield_trainer import nested_years

    if known_models is None:
        from geoapp.models.yield_models import MODEL_NAMES

        known_models = MODEL_NAMES
    unknown = [m for m in plan.models() if m not in known_models]
    if unknown:
        raise InputError(
            f"plan {plan.name!r} names model(s) {unknown} that this geoapp cannot train; it knows {list(known_models)} "
            "(run the others with --models, or once the trainer supports them)"
        )
    years = [int(y) for y in years]
    runs = plan.runs()
    outside = sorted({r.test_year for r in runs} - set(years))
    if outside:
        raise InputError(
            f"plan {plan.name!r} tests on year(s) {outside} outside the data, which holds {min(years)}..{max(years)}"
        )
    for n, y in sorted({(r.n_train_years, r.test_year) for r in runs}):
        try:
            nested_years(y, n, years)
        except InputError as exc:
            raise InputError(f"plan {plan.name!r}: N_y = {n} is too large for test year {y}: {exc}") from None
    return runs
