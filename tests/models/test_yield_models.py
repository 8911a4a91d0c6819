"""The named yield models: registry and config validation, shapes, batch independence, training step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from geoapp.errors import InputError
from geoapp.models.yield_models import (
    BASELINE_NAMES,
    MODEL_NAMES,
    MODELS,
    SIZES,
    YieldModel,
    YieldModelConfig,
    build_yield_model,
    yield_model_config,
)

TINY = {"embed_dim": 8, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 16}  # demo size shrunk further
B, T, C, PX = 2, 7, 9, 8


def _tiles(b: int = B, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, T, C, PX, PX, generator=torch.Generator().manual_seed(seed))


LOCATION = {"location_dim": 6, "location_rows": 5}  # a county table of 5 rows of 6 values (semi-ha-loc)


def _location_sizes(name: str) -> dict[str, int]:
    """The county table's size for a model with location; nothing for the others."""
    return LOCATION if MODELS[name].use_location else {}


def _model(name: str = "semi-ha", **kwargs) -> YieldModel:
    torch.manual_seed(0)
    model = build_yield_model(name, "demo", **(TINY | _location_sizes(name) | kwargs))
    if model.location is not None:
        model.location.set_table(torch.randn(5, 6, generator=torch.Generator().manual_seed(1)))
    return model


def _county(name: str, b: int = B) -> torch.Tensor | None:
    """County rows for a model with location (ignored by the others)."""
    return torch.arange(b) % 5 if MODELS[name].use_location else None


def test_names_and_switches():
    assert MODEL_NAMES == (
        "semi-ha",
        "semi-ha-loc",
        "s-ha",
        "semi-sa",
        "ridge",
        "rf",
        "mlp",
        "lstm-gp",
        "cnn-gp",
        "c3d",
        "cnn-lstm",
    )
    assert BASELINE_NAMES == MODEL_NAMES[4:]
    configs = {n: yield_model_config(n, **_location_sizes(n)) for n in MODELS}
    switches = {n: (c.use_global_query, c.use_context, c.use_location) for n, c in configs.items()}
    assert switches == {
        "semi-ha": (True, True, False),
        "semi-ha-loc": (True, True, True),
        "s-ha": (True, False, False),
        "semi-sa": (False, True, False),
    }
    assert _model("semi-sa").attention.layers[0].attention.global_query is None
    assert _model("s-ha").attention.layers[0].attention.global_query is not None


def test_sizes_paper_and_demo():
    paper, demo = yield_model_config("semi-ha", "paper"), yield_model_config("semi-ha", "demo")
    assert paper == YieldModelConfig()
    differ = {f.name for f in dataclasses.fields(YieldModelConfig) if getattr(paper, f.name) != getattr(demo, f.name)}
    assert differ == set(SIZES["demo"]) == {"embed_dim", "cnn_width", "small_input", "heads", "layers", "ff_dim"}
    assert (paper.embed_dim, paper.cnn_width, paper.heads, paper.small_input) == (512, 64, 8, False)
    assert (demo.embed_dim, demo.cnn_width, demo.heads, demo.small_input) == (64, 8, 2, True)
    assert demo.margin == 64.0 and paper.margin == 512.0  # p = m
    assert (paper.alpha, paper.beta, paper.gamma) == (0.2, 0.001, 0.2)


def test_registry_refuses_unknown_names_sizes_and_keys():
    with pytest.raises(
        InputError,
        match=r"unknown yield model 'semi-xx'; expected one of \['semi-ha', 'semi-ha-loc', 's-ha', 'semi-sa', .*'cnn-lstm'\]",
    ):
        yield_model_config("semi-xx")
    with pytest.raises(InputError, match="'ridge' is a baseline of Section IV-B, not an attention YieldModel"):
        build_yield_model("ridge")
    with pytest.raises(InputError, match=r"unknown model size 'huge'; expected one of \['paper', 'demo'\]"):
        yield_model_config("semi-ha", "huge")
    with pytest.raises(InputError, match=r"unknown yield-model config key\(s\) \['embedding_dim'\]; allowed: \["):
        yield_model_config("semi-ha", embedding_dim=32)
    with pytest.raises(InputError, match=r"\['use_global_query'\] are set by the model name 's-ha'"):
        yield_model_config("s-ha", use_global_query=False)
    with pytest.raises(InputError, match=r"unknown yield-model config key\(s\) \['colour'\]"):
        YieldModelConfig.from_dict({"embed_dim": 64, "colour": "red"})
    with pytest.raises(InputError, match="must be a mapping"):
        YieldModelConfig.from_dict([("embed_dim", 64)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"embed_dim": 30, "heads": 4}, "embed_dim must be even .* and divisible by heads .* got embed_dim=30, heads=4"),
        ({"embed_dim": 7, "heads": 7}, "embed_dim must be even"),
        ({"layers": 0}, "'layers' must be a positive integer; got 0"),
        ({"cnn_width": True}, "'cnn_width' must be a positive integer; got True"),
        ({"small_input": 1}, "'small_input' must be true or false; got 1"),
        ({"dropout": 1.0}, r"'dropout' must be in \[0, 1\)"),
        ({"alpha": -0.2}, "'alpha' must be >= 0"),
        ({"gamma": float("nan")}, "'gamma' must be a finite number"),
        ({"target_std": 0.0}, "'target_std' must be > 0"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(InputError, match=message):
        yield_model_config("semi-ha", **overrides)


def test_config_round_trip_through_dict():
    config = yield_model_config("semi-sa", "demo", target_mean=48.5, target_std=7.0, alpha=0)
    assert isinstance(config.alpha, float)
    again = YieldModelConfig.from_dict(config.to_dict())
    assert again == config and not again.use_global_query


def test_shapes_of_every_piece():
    model = _model().eval()
    x = _tiles()
    assert model.embed(x).shape == (B, T, 8)
    pred, attn = model(x, return_attention=True)
    assert pred.shape == (B,) and attn.shape == (1, B, 2, T, T)
    assert model(x).shape == (B,)
    out = model.forward_quadruplet(x, _tiles(seed=1), _tiles(seed=2), _tiles(seed=3), return_attention=True)
    assert out.prediction.shape == (B,) and out.attention is not None and out.attention.shape == (1, B, 2, T, T)
    assert all(e.shape == (B, T, 8) for e in out.context)
    torch.testing.assert_close(out.prediction, pred)  # eval: the anchors' prediction ignores the context
    torch.testing.assert_close(out.sn, model.embed(_tiles(seed=1)))


def test_output_scale_in_bu_per_acre():
    x = _tiles()
    base = _model().eval()
    scaled = _model(target_mean=50.0, target_std=5.0).eval()
    with torch.no_grad():
        torch.testing.assert_close(scaled(x), 50.0 + 5.0 * base(x))


def test_eval_output_independent_of_batch():
    model = _model()
    model(_tiles(4, seed=9))  # one training-mode pass moves the BatchNorm running statistics
    model.eval()
    x = _tiles(5)
    with torch.no_grad():
        torch.testing.assert_close(model(x[3:4]), model(x)[3:4], rtol=1e-5, atol=1e-5)


def test_reordering_months_changes_the_prediction():
    model = _model().eval()
    x = _tiles()
    with torch.no_grad():
        assert not torch.allclose(model(x.flip(1)), model(x), atol=1e-4)


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_backward_for_each_model(name):
    model = _model(name, target_mean=45.0, target_std=8.0).train()
    target = torch.tensor([44.0, 51.0])
    if model.config.use_context:
        out = model.forward_quadruplet(_tiles(), _tiles(seed=1), _tiles(seed=2), _tiles(seed=3), county=_county(name))
        terms = model.loss(out.prediction, target, out.context)
        assert set(terms) >= {"spatial", "temporal", "regulariser"}
    else:
        terms = model.loss(model(_tiles(), _county(name)), target)
        assert set(terms) == {"supervised", "total"}
    terms["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert model.encoder.stem[0].weight.grad.abs().sum() > 0  # the CNN gets a gradient
    if model.config.use_global_query:
        assert model.attention.layers[0].attention.global_query.grad.abs().sum() > 0
    if model.location is not None:  # the projection learns; the frozen table is a buffer without a gradient
        assert model.location.project[0].weight.grad.abs().sum() > 0
        assert not model.location.table.requires_grad and "location.table" not in dict(model.named_parameters())


def test_paper_size_builds():
    model = build_yield_model("semi-ha", "paper")
    assert not model.encoder.small_input and model.encoder.stem[0].kernel_size == (7, 7)
    assert len(model.attention.layers) == 2 and model.attention.layers[0].attention.heads == 8


def test_bad_tiles_and_misuse():
    model = _model().eval()
    with pytest.raises(InputError, match=r"input tiles must be \(B, T=7, C=9, H, W\); got \(2, 6, 9, 8, 8\)"):
        model(torch.randn(2, 6, C, PX, PX))
    x = _tiles()
    x[0, 3, 2, 1, 1] = float("nan")
    with pytest.raises(InputError, match="input tiles hold 1 non-finite values"):
        model(x)
    with pytest.raises(InputError, match=r"sn tiles have shape \(1, 7, 9, 8, 8\), the anchors \(2, 7, 9, 8, 8\)"):
        model.forward_quadruplet(_tiles(), _tiles(1), _tiles(), _tiles())
    with pytest.raises(InputError, match="trained with context tiles"):
        model.loss(torch.zeros(2), torch.zeros(2))
    s_ha = _model("s-ha")
    with pytest.raises(InputError, match="trained without context tiles; call forward"):
        s_ha.forward_quadruplet(x, x, x, x)
    with pytest.raises(InputError, match="takes no unsupervised loss"):
        s_ha.loss(torch.zeros(2), torch.zeros(2), (torch.zeros(2, T, 8),) * 4)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="YieldModel needs a YieldModelConfig; got dict"):
        YieldModel({"embed_dim": 8})  # type: ignore[arg-type]


def test_for_inference_copy_matches_and_keeps_the_training_model():
    torch.manual_seed(0)
    model = build_yield_model("semi-ha")
    model.train()
    model(torch.randn(4, 7, 9, 16, 16))  # BatchNorm running statistics move
    model.eval()
    x = torch.randn(3, 7, 9, 16, 16)
    fast = model.for_inference()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-5, atol=1e-3)
    model.train()
    assert model.training and model.attention.training  # the copy does not touch the original's mode
    assert fast is not model and not fast.training
