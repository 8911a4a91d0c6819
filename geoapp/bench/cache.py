"""Benchmark of the results kept on disk: cold compute seconds vs. warm load seconds, per cached result.

Each result is asked for twice through the function a page calls, with the cache in a temporary
folder (the real caches are neither read nor changed): the first call computes and writes it (cold),
the second reads it back (warm). Cold times include loading the checkpoint, as a page's first ask
does; warm times include computing the key (hashing the card, reading file sizes and times). The
file just written is in the OS page cache, as it is for a server started after ``geoapp warm``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["run_cache_benchmark", "format_table"]


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _pick(found: list[tuple[Path, dict]], model: str) -> tuple[Path, int] | None:
    for folder, card in sorted(found, key=lambda fc: -int(fc[1]["years"]["test"])):
        if card.get("model") == model:
            return folder, int(card["years"]["test"])
    return None


def run_cache_benchmark(dataset: str | Path | None = None, all_galleries: bool = False) -> list[dict]:
    """Cold vs. warm seconds of each kind of kept result; one dict per row (result, cold_s, warm_s, ratio).

    Yield results use the latest-tested SEMI-HA and ridge checkpoints of ``dataset`` (default the
    embedded one) on their test year; gallery embeddings the shipped encoder over the land gallery
    and GeoCLIP's encoder over the land gallery (every encoder and gallery with ``all_galleries``;
    GeoCLIP's take about half a minute each on one CPU core).
    """
    from geoapp.analysis.ablation import what_if_ablation
    from geoapp.analysis.attention import attention_for_year
    from geoapp.analysis.result_cache import cache_root
    from geoapp.analysis.yield_predictions import predictions_for_year, yield_checkpoints
    from geoapp.data.dataset import default_dataset_path, load_dataset
    from geoapp.errors import MissingDataError
    from geoapp.training.model_kinds import kind_of_card

    path = Path(dataset) if dataset else default_dataset_path("demo")
    ds = load_dataset(path)
    found = yield_checkpoints(ds)
    cases: list[tuple[str, Callable[[], object]]] = []
    for model in ("semi-ha", "ridge"):
        picked = _pick(found, model)
        if picked is None:
            continue
        folder, year = picked
        run = f"{folder.parent.name if folder.name == 'best' else folder.name}, {year}"
        cases.append((f"predictions ({run})", lambda f=folder, y=year: predictions_for_year(f, ds, y)))
        if kind_of_card(dict(found)[folder], folder).has_attention:
            cases.append((f"attention ({run})", lambda f=folder, y=year: attention_for_year(f, ds, y)))
        cases.append((f"what-if ablation ({run})", lambda f=folder, y=year: what_if_ablation(f, ds, y)))
    if not cases:
        raise MissingDataError(f"no crop-yield checkpoint trained on {str(path)!r}: train one (python -m geoapp train yield)")

    rows = []
    with tempfile.TemporaryDirectory(prefix="geoapp-bench-cache-") as tmp:
        with cache_root(Path(tmp) / "results"):
            for name, fn in cases:
                rows.append(_row(name, _timed(fn), _timed(fn)))
        rows += _gallery_rows(Path(tmp) / "galleries", all_galleries)
    return rows


def _gallery_rows(folder: Path, all_galleries: bool) -> list[dict]:
    from geoapp.analysis.location import DEFAULT_LOCATION_CHECKPOINT, load_location_model
    from geoapp.data.galleries import GalleryEmbeddingCache, load_gallery
    from geoapp.errors import GeoappError
    from geoapp.paths import checkpoint_dir

    encoders = []
    if (checkpoint_dir() / DEFAULT_LOCATION_CHECKPOINT).is_dir():
        encoders.append(("ours", load_location_model()))
    try:
        from geoapp.models.location.geoclip import load_geoclip_encoder

        encoders.append(("GeoCLIP", load_geoclip_encoder()))
    except (GeoappError, OSError, ImportError):
        pass
    pairs = [(e, g) for e in encoders for g in ("land", "geoclip")] if all_galleries else [(e, "land") for e in encoders]
    cache = GalleryEmbeddingCache(folder)
    rows = []
    for (enc_name, encoder), gallery_name in pairs:
        gallery = load_gallery(gallery_name)

        def get(encoder=encoder, gallery=gallery):
            return cache.get(
                gallery, lambda lat, lon: encoder.embed_locations(lat.float(), lon.float()), encoder.fingerprint, progress=False
            )

        cold = _timed(get)
        rows.append(_row(f"gallery embeddings ({enc_name} over {gallery_name}, {len(gallery):,} points)", cold, _timed(get)))
    return rows


def _row(name: str, cold: float, warm: float) -> dict:
    return {"result": name, "cold_s": round(cold, 3), "warm_s": round(warm, 4), "ratio": round(cold / max(warm, 1e-9), 1)}


def format_table(rows: list[dict]) -> str:
    """The rows as a plain-text table: result, cold s, warm s, cold / warm."""
    width = max([len("result")] + [len(r["result"]) for r in rows])
    lines = [f"{'result':<{width}}  {'cold s':>8}  {'warm s':>8}  {'cold/warm':>9}"]
    for r in rows:
        lines.append(f"{r['result']:<{width}}  {r['cold_s']:>8.2f}  {r['warm_s']:>8.3f}  {r['ratio']:>8.0f}x")
    return "\n".join(lines) + "\n"
