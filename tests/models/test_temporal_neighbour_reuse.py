"""SEMI-HA's temporal neighbour one month earlier is the anchor shifted: its embeddings are reused, not recomputed."""

from __future__ import annotations

import torch

from geoapp.models.yield_models import YieldModel, yield_model_config

SMALL = dict(embed_dim=16, cnn_width=4, heads=2, layers=1, ff_dim=16, target_mean=40.0, target_std=8.0)


def _model() -> YieldModel:
    torch.manual_seed(0)
    return YieldModel(yield_model_config("semi-ha", **SMALL))


def _tiles(b: int = 3) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    a, sn, sd = (torch.randn(b, 7, 9, 8, 8, generator=g) for _ in range(3))
    return a, sn, sd, torch.cat([a[:, :1], a[:, :-1]], dim=1)  # TN^t = A^(t-1), month 1 repeats


def _images_seen(model: YieldModel, fn) -> int:
    seen = []
    handle = model.encoder.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    try:
        fn()
    finally:
        handle.remove()
    return sum(seen)


def test_the_previous_month_is_not_embedded_again_and_gives_the_same_embeddings_and_gradients():
    a, sn, sd, tn = _tiles()
    model = _model().eval()  # eval: BatchNorm uses its running statistics, so both paths must agree exactly
    q = model.forward_quadruplet(a, sn, sd, tn)
    assert _images_seen(model, lambda: model.forward_quadruplet(a, sn, sd, tn)) == 3 * 3 * 7  # A, SN, SD only
    torch.testing.assert_close(q.tn, model.embed(tn))
    ref = _model().eval()
    emb = ref.embed(torch.cat([a, sn, sd, tn]))  # every series through the CNN, as before
    torch.testing.assert_close(q.context[3], emb.split(3)[3])
    target = torch.tensor([40.0, 35.0, 45.0])
    model.loss(q.prediction, target, q.context)["total"].backward()
    e_a, e_sn, e_sd, e_tn = emb.split(3)
    ref.loss(ref.predict_from_embeddings(e_a), target, (e_a, e_sn, e_sd, e_tn))["total"].backward()
    for (name, p), (_, r) in zip(model.named_parameters(), ref.named_parameters(), strict=True):
        if r.grad is not None:
            torch.testing.assert_close(p.grad, r.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_another_temporal_neighbour_is_embedded():
    a, sn, sd, _ = _tiles()
    other = torch.randn_like(a)  # e.g. the previous year's tiles
    model = _model().eval()
    assert _images_seen(model, lambda: model.forward_quadruplet(a, sn, sd, other)) == 4 * 3 * 7
    torch.testing.assert_close(model.forward_quadruplet(a, sn, sd, other).tn, model.embed(other))
