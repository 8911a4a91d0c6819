"""Why does (or doesn't) SEMI-HA beat S-HA? ``python -m geoapp bench yield-sweep --plan NAME``.

Trains a named list of variants of the crop-yield models on the embedded data, each into its own run
folder under ``runs/yield-sweep/<plan>/<variant>`` (not shipped), and appends one JSON line per
finished variant to ``runs/yield-sweep/<plan>/results.jsonl`` (validation and test RMSE / R^2 of the
best-on-validation epoch, epochs run, seconds). A variant that already has a result is skipped, so a
plan can be stopped and started again.

Plans (all on test year 2018 unless named otherwise, seed 0):

- ``labels``: label-scarce training (1,000 labelled county-years instead of ~8,500): S-HA against
  SEMI-HA with the default loss weights, a smaller alpha, and a wider spatial-neighbour radius. The
  unsupervised terms of Eq. 2 are meant to help most where labels are few.
- ``seeds``: more seeds (1-4 for 2017, 2-4 for 2018) of S-HA and SEMI-HA in the shipped
  configuration; :func:`seed_summary` pools them with the ``full`` plan's runs into mean +/- sd per
  (model, test year) and a paired comparison seed by seed.
- ``full``: all labels, the configuration of the shipped checkpoints (S-HA, SEMI-HA, SEMI-SA for test
  years 2018 and 2017, 9 epochs), a second seed of S-HA and SEMI-HA for 2018, then a smaller margin p
  for SEMI-HA. The shipped checkpoints are
  these runs' ``best/`` folders.

The figures are recorded in ``docs/yield-benchmark.md``; they are single runs on a shared 2-core CPU.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from geoapp.data.dataset import default_dataset_path, load_dataset
from geoapp.errors import InputError
from geoapp.paths import REPO_ROOT
from geoapp.training.checkpoint import read_card
from geoapp.training.metrics_log import read_metrics
from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

__all__ = ["PLANS", "SHIPPED", "run_sweep", "read_results", "ship_runs", "seed_summary", "seed_summary_markdown"]

_SCARCE = {"max_train_examples": 1000, "epochs": 20, "patience": 8, "temporal_neighbour": "year"}
_TN_YEAR = {"temporal_neighbour": "year"}  # the runs made before TN followed the paper (one month earlier)
PLANS: dict[str, dict[str, dict[str, Any]]] = {
    "labels": {
        "s-ha": {"model": "s-ha", **_SCARCE},
        "semi-ha": {"model": "semi-ha", **_SCARCE},
        "semi-ha-alpha0.05": {"model": "semi-ha", **_SCARCE, "model_overrides": {"alpha": 0.05}},
        "semi-ha-rn50": {"model": "semi-ha", **_SCARCE, "r_n_km": 50.0},
        "semi-ha-margin0.25": {"model": "semi-ha", **_SCARCE, "model_overrides": {"margin_per_dim": 0.25}},
    },
    # 9 epochs (a context model's 20-minute budget on 2 cores), TN = previous year; s-ha and semi-sa are shipped from here
    "full": {
        "s-ha-2018": {"model": "s-ha", "epochs": 9},
        "semi-ha-2018": {"model": "semi-ha", "epochs": 9, **_TN_YEAR},
        "s-ha-2017": {"model": "s-ha", "epochs": 9, "test_year": 2017},
        "semi-ha-2017": {"model": "semi-ha", "epochs": 9, "test_year": 2017, **_TN_YEAR},
        "semi-sa-2018": {"model": "semi-sa", "epochs": 9, **_TN_YEAR},
        "semi-sa-2017": {"model": "semi-sa", "epochs": 9, "test_year": 2017, **_TN_YEAR},
        "s-ha-2018-seed1": {"model": "s-ha", "epochs": 9, "seed": 1},  # is the 2018 gap beyond seed noise?
        "semi-ha-2018-seed1": {"model": "semi-ha", "epochs": 9, "seed": 1, **_TN_YEAR},
        "semi-ha-margin0.25-2018": {"model": "semi-ha", "epochs": 9, "model_overrides": {"margin_per_dim": 0.25}, **_TN_YEAR},
    },
    # more seeds with TN = previous year (the configuration of the ``full`` plan)
    "seeds": {
        f"{model}-{year}-seed{seed}": {
            "model": model,
            "epochs": 9,
            "test_year": year,
            "seed": seed,
            **(_TN_YEAR if model != "s-ha" else {}),
        }
        for year, seeds in ((2017, (1, 2, 3, 4)), (2018, (2, 3, 4)))
        for seed in seeds
        for model in ("s-ha", "semi-ha")
    },
    # SEMI-HA with the paper's TN (one month earlier, the default): seeds 0-2 per test year; seed 0 is shipped
    "paper-tn": {
        **{f"semi-ha-{year}": {"model": "semi-ha", "epochs": 9, "test_year": year} for year in (2018, 2017)},
        **{
            f"semi-ha-{year}-seed{seed}": {"model": "semi-ha", "epochs": 9, "test_year": year, "seed": seed}
            for seed in (1, 2)
            for year in (2018, 2017)
        },
        "s-ha-2017-seed2": {"model": "s-ha", "epochs": 9, "test_year": 2017, "seed": 2},
    },
}
"""Variants per plan: :class:`YieldTrainConfig` fields (test year 2018 unless a variant sets it)."""

SHIPPED = ("s-ha-2018", "semi-ha-2018", "semi-sa-2018", "s-ha-2017", "semi-ha-2017", "semi-sa-2017")
"""Variant names shipped as ``checkpoints/yield/<variant>`` (seed 0, the paper's loss weights): S-HA and
SEMI-SA from the ``full`` plan, SEMI-HA from ``paper-tn`` (``ship_runs(plan)`` copies those the plan has)."""


def sweep_dir(plan: str) -> Path:
    """Run folder of a plan: ``runs/yield-sweep/<plan>`` in the repository."""
    return REPO_ROOT / "runs" / "yield-sweep" / plan


def read_results(plan: str) -> list[dict[str, Any]]:
    """The finished variants of a plan, in the order they finished."""
    path = sweep_dir(plan) / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_sweep(
    plan: str, dataset: str | None = None, only: list[str] | None = None, progress: bool = True
) -> list[dict[str, Any]]:
    """Train every variant of ``plan`` that has no result yet; returns all results of the plan."""
    if plan not in PLANS:
        raise InputError(f"unknown sweep plan {plan!r}; expected one of {sorted(PLANS)}")
    variants = PLANS[plan]
    unknown = sorted(set(only or []) - set(variants))
    if unknown:
        raise InputError(f"plan {plan!r} has no variants {unknown}; it has {sorted(variants)}")
    ds = load_dataset(dataset or default_dataset_path("demo"))
    root = sweep_dir(plan)
    root.mkdir(parents=True, exist_ok=True)
    done = {r["variant"] for r in read_results(plan)}
    for name, fields in variants.items():
        if name in done or (only and name not in only):
            continue
        cfg = YieldTrainConfig.from_dict({"test_year": 2018, **fields})
        t0 = time.perf_counter()
        best = train_yield(cfg, ds, root / name, force=True, progress=progress)  # the sweep's own folder: a rerun replaces it
        card = read_card(best)
        metrics = card["metrics"]
        row = {
            "variant": name,
            "plan": plan,
            "config": asdict(cfg),
            "epochs_run": len(read_metrics(root / name / "metrics.jsonl")),
            "best_epoch": card["epoch"],
            "val_rmse": round(metrics["val_rmse"], 3),
            "val_r2": round(metrics["val_r2"], 3),
            "test_rmse": round(metrics["test_rmse"], 3),
            "test_r2": round(metrics["test_r2"], 3),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        with open(root / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    return read_results(plan)


def ship_runs(plan: str = "full") -> list[Path]:
    """Copy the shipped variants' ``best/`` and ``metrics.jsonl`` to ``checkpoints/yield/<variant>``.

    Each target folder is replaced whole (atomically); variants without a result are skipped.
    """
    import shutil

    from geoapp.fileio import atomic_folder
    from geoapp.paths import checkpoint_dir

    done = {r["variant"] for r in read_results(plan)}
    shipped = []
    for name in SHIPPED:
        if name not in done:
            continue
        src = sweep_dir(plan) / name
        with atomic_folder(checkpoint_dir() / "yield" / name) as tmp:
            shutil.copytree(src / "best", tmp / "best")
            shutil.copy2(src / "metrics.jsonl", tmp / "metrics.jsonl")
        shipped.append(checkpoint_dir() / "yield" / name)
    return shipped


def _is_shipped_config(config: dict[str, Any]) -> bool:
    """True for a run in the shipped configuration up to seed and TN: all labels, 9 epochs, default weights."""
    reference = asdict(YieldTrainConfig.from_dict({"model": config["model"], "test_year": config["test_year"], "epochs": 9}))
    return all(  # a field the row lacks was added later: the run was trained as its default (e.g. augment "none")
        config.get(k, v) == v for k, v in reference.items() if k not in ("seed", "device", "temporal_neighbour", "exclude_group")
    )


def _tn(config: dict[str, Any]) -> str | None:
    """What TN was in a run: None for S-HA (no context tiles); "year" for runs made before the field existed."""
    return None if config["model"] == "s-ha" else config.get("temporal_neighbour", "year")


def seed_summary(plans: tuple[str, ...] = ("full", "seeds", "paper-tn")) -> dict[str, Any]:
    """Test RMSE over seeds of the shipped configuration, per (test year, model, TN), and SEMI-HA - S-HA.

    Pools the finished runs of ``plans`` whose configuration is the shipped one except for the seed
    and the temporal neighbour (``tn``: "month" or "year"; None for S-HA). Returns
    ``{"groups": [...], "paired": [...]}``: each group has test year, model, tn, the seeds, test and
    validation RMSE (bu/acre) per seed, their mean and sample standard deviation (ddof = 1; None for
    one seed); each paired row (one per test year and SEMI-HA tn) has the seeds both S-HA and SEMI-HA
    have, the per-seed difference SEMI-HA minus S-HA in test RMSE (negative: SEMI-HA better), its
    mean, sd and standard error, and on how many seeds SEMI-HA has the lower test RMSE.
    """
    import statistics

    runs: dict[tuple[int, str, str | None], dict[int, dict[str, Any]]] = {}
    for plan in plans:
        for row in read_results(plan):
            cfg = row["config"]
            if _is_shipped_config(cfg) and not cfg.get("exclude_group"):
                runs.setdefault((cfg["test_year"], cfg["model"], _tn(cfg)), {})[cfg["seed"]] = row

    def spread(values: list[float]) -> dict[str, float | None]:
        sd = statistics.stdev(values) if len(values) > 1 else None
        return {"mean": round(statistics.fmean(values), 3), "sd": None if sd is None else round(sd, 3)}

    def order(key: tuple[int, str, str | None]) -> tuple:
        return key[0], key[1], key[2] or ""

    groups = []
    for (year, model, tn), by_seed in sorted(runs.items(), key=lambda kv: order(kv[0])):
        seeds = sorted(by_seed)
        test = [by_seed[s]["test_rmse"] for s in seeds]
        val = [by_seed[s]["val_rmse"] for s in seeds]
        groups.append(
            {
                "test_year": year,
                "model": model,
                "tn": tn,
                "seeds": seeds,
                "test_rmse": test,
                "val_rmse": val,
                "test": spread(test),
                "val": spread(val),
            }
        )
    paired = []
    for year, model, tn in sorted(runs, key=order):
        if model != "semi-ha":
            continue
        base, semi = runs.get((year, "s-ha", None), {}), runs[year, model, tn]
        seeds = sorted(set(base) & set(semi))
        if not seeds:
            continue
        diff = [round(semi[s]["test_rmse"] - base[s]["test_rmse"], 3) for s in seeds]
        stats = spread(diff)
        se = None if stats["sd"] is None else round(stats["sd"] / len(diff) ** 0.5, 3)
        paired.append(
            {
                "test_year": year,
                "tn": tn,
                "seeds": seeds,
                "diff": diff,
                **stats,
                "se": se,
                "semi_ha_wins": sum(d < 0 for d in diff),
            }
        )
    return {"groups": groups, "paired": paired}


def seed_summary_markdown(summary: dict[str, Any]) -> str:
    """The two tables of :func:`seed_summary` in markdown (RMSE in bu/acre)."""

    def pm(stats: dict[str, float | None]) -> str:
        return f"{stats['mean']:.3f}" + ("" if stats["sd"] is None else f" +/- {stats['sd']:.3f}")

    def tn(value: str | None) -> str:
        return "-" if value is None else f"previous {value}"

    lines = [
        "| test year | model | TN | seeds | test RMSE per seed | test RMSE mean +/- sd | validation RMSE mean +/- sd |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in summary["groups"]:
        per_seed = ", ".join(f"{v:.3f}" for v in g["test_rmse"])
        lines.append(
            f"| {g['test_year']} | {g['model']} | {tn(g['tn'])} | {len(g['seeds'])} | {per_seed} "
            f"| {pm(g['test'])} | {pm(g['val'])} |"
        )
    lines += [
        "",
        "| test year | SEMI-HA TN | paired seeds | SEMI-HA - S-HA per seed | mean +/- sd (standard error) | seeds SEMI-HA wins |",
        "|---|---|---|---|---|---|",
    ]
    for p in summary["paired"]:
        per_seed = ", ".join(f"{d:+.3f}" for d in p["diff"])
        se = "" if p["se"] is None else f" ({p['se']:.3f})"
        lines.append(
            f"| {p['test_year']} | {tn(p['tn'])} | {len(p['seeds'])} | {per_seed} | {pm(p)}{se} "
            f"| {p['semi_ha_wins']} of {len(p['seeds'])} |"
        )
    return "\n".join(lines) + "\n"
