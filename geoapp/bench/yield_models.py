"""Crop-yield benchmark: ``python -m geoapp bench yield [--json] [--markdown docs/yield-benchmark.md]``.

For every checkpoint under ``checkpoints/yield/<model>-<year>/best``: RMSE and R^2 on its test year,
the simulation's noise floor for that year (RMSE of the noise-free yield against the labels: no
model can beat it), training samples per second (median over epochs, from ``metrics.jsonl``) and the
time to predict every county of the year on the CPU. SEMI-HA is then compared with every other
model on the same counties: the RMSE difference with a 95% bootstrap interval over counties
(:func:`paired_rmse_difference`). The paper's Table I/II figures are listed for reference; they come
from real data and are not comparable with a simulation.

On another dataset (``--dataset DIR``) only the checkpoints trained on it (same data fingerprint)
are scored; for real data the noise floor is unknown and the table says so.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from geoapp.data.dataset import YieldDataset, default_dataset_path, load_dataset
from geoapp.errors import GeoappError, InputError
from geoapp.fileio import atomic_write_text
from geoapp.paths import checkpoint_dir
from geoapp.training.checkpoint import read_card
from geoapp.training.metrics_log import read_metrics
from geoapp.training.model_kinds import MODEL_KINDS, kind_names, kind_of_card, model_text
from geoapp.training.yield_data import Examples, YieldTileSource
from geoapp.training.yield_trainer import evaluate_yield, load_yield_model, predict_examples

__all__ = ["PAPER_TABLE", "paired_rmse_difference", "run_yield_benchmark", "write_markdown"]

PAPER_TABLE = {  # Table I (RMSE) and Table II (R^2), 10 training years, real NASS soybean yields
    "LR": {2017: (6.839, 0.458), 2018: (8.163, 0.361)},
    "C3D": {2017: (5.736, 0.618), 2018: (5.558, 0.704)},
    "S-HA": {2017: (4.701, 0.744), 2018: (5.467, 0.714)},
    "SEMI-SA": {2017: (4.587, 0.756), 2018: (5.47, 0.712)},
    "SEMI-HA": {2017: (4.354, 0.78), 2018: (5.363, 0.724)},
}
ORDER = (*kind_names("baseline"), *reversed(kind_names("attention")))
"""Row order in a year: the baselines, then the attention models, SEMI-HA last."""
NOTES_MARKER = "<!-- notes: kept when the tables above are rewritten -->"


def _error_parts(table) -> dict[str, float]:
    """RMSE^2 = bias^2 + spread^2, split into its parts, with the correlation of predicted and true.

    The bias is the year's mean error (one number per test year, so a noisy part of any comparison);
    the spread is the RMSE left once it is removed.
    """
    err = (table["predicted"] - table["true"]).to_numpy(dtype=float)
    corr = float(np.corrcoef(table["predicted"], table["true"])[0, 1])
    return {"bias": round(float(err.mean()), 3), "rmse_without_bias": round(float(err.std()), 3), "corr": round(corr, 3)}


def paired_rmse_difference(
    true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """RMSE(a) - RMSE(b) on the same counties, with a 95% percentile bootstrap interval.

    Counties are resampled with replacement ``n_boot`` times and both RMSEs recomputed on each
    resample, so the interval reflects which counties happen to make up the test year (not seed
    noise). Errors of neighbouring counties are correlated, so the interval is, if anything, too
    narrow. Negative: ``a`` is better. Arrays have shape (n_counties,), in bu/acre.
    """
    true, pred_a, pred_b = (np.asarray(v, dtype=float) for v in (true, pred_a, pred_b))
    if not (true.shape == pred_a.shape == pred_b.shape) or true.ndim != 1 or len(true) < 2:
        raise ValueError(f"expected three 1-D arrays of one length >= 2, got shapes {true.shape}, {pred_a.shape}, {pred_b.shape}")
    sq_a, sq_b = (pred_a - true) ** 2, (pred_b - true) ** 2
    idx = np.random.default_rng(seed).integers(0, len(true), size=(n_boot, len(true)))
    boot = np.sqrt(sq_a[idx].mean(axis=1)) - np.sqrt(sq_b[idx].mean(axis=1))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    diff = float(np.sqrt(sq_a.mean()) - np.sqrt(sq_b.mean()))
    return {
        "diff": round(diff, 3),
        "ci_low": round(float(lo), 3),
        "ci_high": round(float(hi), 3),
        "a_better_share": round(float((boot < 0).mean()), 3),
    }


def _comparisons(tables: dict[tuple[str, int], pd.DataFrame], reference: str = "semi-ha") -> list[dict]:
    """``reference`` against every other model of the same test year (same counties)."""
    out = []
    for (model, year), table in sorted(
        tables.items(), key=lambda kv: (kv[0][1], ORDER.index(kv[0][0]) if kv[0][0] in ORDER else 99)
    ):
        if model == reference or (reference, year) not in tables:
            continue
        both = tables[reference, year].merge(table, on=["geoid", "year"], suffixes=("_ref", "_other"))
        stats = paired_rmse_difference(both["true_ref"], both["predicted_ref"], both["predicted_other"])
        out.append({"year": year, "model": reference, "against": model, "n": len(both), **stats})
    return out


UNKNOWN_FLOOR = "unknown (real data)"
"""The noise-floor entry of a dataset without a noise-free yield (real data)."""


def _floor(ds: YieldDataset, year: int) -> float | str | None:
    if "expected" not in ds.yields.columns:
        return None if ds.simulated else UNKNOWN_FLOOR
    lab = ds.labelled(year)
    return float(np.sqrt(np.mean((lab["yield"] - lab["expected"]) ** 2)))


def _inference_seconds(folder: Path, ds: YieldDataset, year: int) -> dict[str, float]:
    """Wall times on the CPU once the tiles are in memory.

    Predicting all counties of ``year`` (labelled or not), one what-if pass (PPT masked) over the labelled counties, and the whole
    what-if ablation of the Feature ablation page (5 groups + the unmasked pass, from loading the
    checkpoint), computed cold (in an empty result cache: the kept result of an earlier run would
    otherwise be read in milliseconds) and then read back as the page reads it on a second visit.
    """
    import tempfile

    from geoapp.analysis.ablation import what_if_ablation
    from geoapp.analysis.result_cache import cache_root

    model, card = load_yield_model(folder, ds)
    norm = card["normalisation"]
    source = YieldTileSource(ds, None, bands=tuple(norm["bands"]), stats=(norm["mean"], norm["std"]), years=[year])
    n = len(ds.counties)
    ex = Examples(np.arange(n), np.full(n, ds.years.index(year)), np.zeros(n, np.float32))
    cpu = torch.device("cpu")
    predict_examples(model, source, Examples(ex.county[:8], ex.year[:8], ex.target[:8]), cpu)  # warm-up
    t = time.perf_counter()
    predict_examples(model, source, ex, cpu)
    all_counties = time.perf_counter() - t
    labelled = source.examples([year])
    t = time.perf_counter()
    predict_examples(model, source, labelled, cpu, mask_group="PPT")
    one_group = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp, cache_root(tmp):
        t = time.perf_counter()
        what_if_ablation(folder, ds, year)
        page = time.perf_counter() - t
        t = time.perf_counter()
        what_if_ablation(folder, ds, year)
        kept = time.perf_counter() - t
    return {"all_counties": all_counties, "one_group": one_group, "ablation_page": page, "ablation_page_kept": kept}


def _timings(card: dict, folder: Path, ds: YieldDataset, year: int) -> dict[str, float | None]:
    if not kind_of_card(card, folder).has_attention:  # the timings below run the attention models' batched paths
        return {
            "inference_all_counties_s": None,
            "what_if_one_group_s": None,
            "ablation_page_s": None,
            "ablation_page_kept_s": None,
        }
    t = _inference_seconds(folder, ds, year)
    return {
        "inference_all_counties_s": round(t["all_counties"], 3),
        "what_if_one_group_s": round(t["one_group"], 3),
        "ablation_page_s": round(t["ablation_page"], 3),
        "ablation_page_kept_s": round(t["ablation_page_kept"], 3),
    }


def _bench_card(folder: Path) -> dict:
    """The checkpoint's card, checked for what the benchmark reads (InputError / DataFileError otherwise)."""
    card = read_card(folder)
    if not isinstance(card, dict):
        raise InputError(f"checkpoint card {str(folder / 'card.json')!r} is a JSON {type(card).__name__}, expected an object")
    if card.get("model") not in MODEL_KINDS:
        raise InputError(f"checkpoint card names unknown model {card.get('model')!r}; expected one of {list(MODEL_KINDS)}")
    for key in ("dataset", "train_config"):
        if card.get(key) is not None and not isinstance(card[key], dict):
            raise InputError(f"checkpoint card field {key!r} is {card[key]!r}, expected an object")
    return card


def run_yield_benchmark(dataset: str | None = None) -> dict:
    """Evaluate every shipped crop-yield checkpoint trained on the dataset; returns rows sorted by year and model.

    A checkpoint that cannot be read or scored (a damaged card, an unknown model, corrupted weights)
    is skipped with its reason (``skipped`` in the result, and a line on stderr); the others are scored.
    """
    ds = load_dataset(dataset or default_dataset_path("demo"))
    rows, tables, skipped = [], {}, []
    for folder in sorted((checkpoint_dir() / "yield").glob("*/best")):
        try:
            row, table = _score(folder, ds)
        except (GeoappError, OSError, KeyError, TypeError, ValueError) as exc:  # one bad checkpoint never stops the rest
            reason = str(exc) if isinstance(exc, GeoappError) else f"{type(exc).__name__}: {exc}"
            skipped.append({"checkpoint": str(folder), "reason": reason})
            print(f"skipped {folder}: {reason}", file=sys.stderr)
            continue
        if row is not None:
            rows.append(row)
            tables[row["model"], row["year"]] = table
    rows.sort(key=lambda r: (r["year"], ORDER.index(r["model"]) if r["model"] in ORDER else 99))
    return {
        "dataset": ds.title,
        "simulated": ds.simulated,
        "machine": f"CPU, {torch.get_num_threads()} threads",
        "rows": rows,
        "comparisons": _comparisons(tables),
        "skipped": skipped,
    }


def _score(folder: Path, ds: YieldDataset) -> tuple[dict | None, pd.DataFrame | None]:
    """One benchmark row and its per-county table; (None, None) for a checkpoint the benchmark leaves out."""
    card = _bench_card(folder)
    if (card.get("dataset") or {}).get("fingerprint") != ds.fingerprint:
        return None, None  # trained on other data: its scores here would mean nothing (and loading it refuses)
    if (card.get("train_config") or {}).get("exclude_group"):
        return None, None  # retrained without a feature group (Figure 7): not one of the compared models
    result = evaluate_yield(folder, ds)
    metrics = read_metrics(folder.parent / "metrics.jsonl")
    rate = float(np.median([m["samples_per_s"] for m in metrics])) if metrics else None
    row = {
        "model": model_text(card),
        "year": result["year"],
        "rmse": round(result["rmse"], 3),
        "r2": round(result["r2"], 3),
        **_error_parts(result["table"]),
        "noise_floor_rmse": round(f, 3) if isinstance(f := _floor(ds, result["year"]), float) else f,
        "n": result["n"],
        "epochs": len(metrics) if metrics else None,  # an ensemble is written, not trained: no epochs of its own
        "best_epoch": card.get("epoch"),
        "calibration": (card.get("calibration") or {}).get("kind", "none"),
        "train_samples_per_s": None if rate is None else round(rate, 1),
        **_timings(card, folder, ds, result["year"]),
    }
    return row, result["table"]


def _epochs(row: dict) -> str:
    """``"<epochs> (<best>)"``, or ``-`` for a checkpoint without a training log (an ensemble)."""
    return "-" if row["epochs"] is None else f"{row['epochs']} ({row['best_epoch']})"


def _dash(value: float | None) -> str:
    return "-" if value is None else f"{value}"


def _model_cell(row: dict) -> str:
    """The model's name, with its residual calibration when it has one (its scores are then the calibrated ones)."""
    calibration = row.get("calibration", "none")
    return row["model"] if calibration in (None, "none") else f"{row['model']} + {calibration} calibration"


def write_markdown(result: dict, path: str | Path) -> Path:
    """The results table beside the paper's figures, written atomically."""
    lines = [
        "# Crop-yield benchmark",
        "",
        f"`python -m geoapp bench yield --markdown docs/yield-benchmark.md` on {result['machine']}; "
        f"dataset: {result['dataset']}.",
        "",
        "| test year | model | RMSE (bu/acre) | R^2 | mean error (bias) | RMSE without the bias | corr. | noise floor RMSE "
        "| counties | epochs (best) | train samples/s | predict all counties (s) | what-if, one group (s) "
        "| ablation page, 6 passes, computed / kept result (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['year']} | {_model_cell(r)} | {r['rmse']:.3f} | {r['r2']:.3f} | {r['bias']:+.3f} "
            f"| {r['rmse_without_bias']:.3f} | {r['corr']:.3f} | "
            f"{r['noise_floor_rmse']} | {r['n']} | "
            f"{_epochs(r)} | {_dash(r['train_samples_per_s'])} | {_dash(r['inference_all_counties_s'])} | "
            f"{_dash(r['what_if_one_group_s'])} | {_dash(r['ablation_page_s'])} / {_dash(r.get('ablation_page_kept_s'))} |"
        )
    if result.get("skipped"):
        lines += ["", "Checkpoints skipped (they could not be read or scored):", ""]
        lines += [f"- `{item['checkpoint']}`: {item['reason']}" for item in result["skipped"]]
    if result.get("comparisons"):
        lines += [
            "",
            "SEMI-HA against each model on the same counties: RMSE difference (negative: SEMI-HA better) with a 95% "
            "bootstrap interval over counties (2,000 resamples; it covers which counties make up the year, not seed "
            "noise) and the share of resamples in which SEMI-HA is better.",
            "",
            "| test year | against | counties | RMSE difference | 95% interval | SEMI-HA better in |",
            "|---|---|---|---|---|---|",
        ]
        for c in result["comparisons"]:
            lines.append(
                f"| {c['year']} | {c['against']} | {c['n']} | {c['diff']:+.3f} | [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | "
                f"{100 * c['a_better_share']:.0f}% |"
            )
    lines += [
        "",
        "For reference, the paper's Table I/II (RMSE, R^2) on real NASS soybean yields, 10 training years.",
        "**These are not comparable** with the figures above, which come from geoapp's simulated Corn Belt."
        if result.get("simulated", True)
        else "Compare with care: the figures above come from other counties, years and inputs.",
        "",
        "| method | 2017 RMSE | 2017 R^2 | 2018 RMSE | 2018 R^2 |",
        "|---|---|---|---|---|",
    ]
    for name, years in PAPER_TABLE.items():
        lines.append(f"| {name} | {years[2017][0]} | {years[2017][1]} | {years[2018][0]} | {years[2018][1]} |")
    path = Path(path)
    text = "\n".join(lines) + "\n"
    if path.exists() and NOTES_MARKER in (old := path.read_text(encoding="utf-8")):
        text += "\n" + NOTES_MARKER + old.split(NOTES_MARKER, 1)[1]  # hand-written notes below the marker are kept
    atomic_write_text(path, text)
    return path
