"""Hybrid attention (Eq. 7-12): positional encoding, global query, heads, layers."""

from __future__ import annotations

import math

import pytest
import torch

from geoapp.errors import InputError
from geoapp.models.hybrid_attention import HybridAttentionEncoder, HybridMultiHeadAttention, sinusoidal_encoding

T, M = 7, 8


def _encoder(use_global_query: bool = True, **kwargs) -> HybridAttentionEncoder:
    torch.manual_seed(0)
    options = {"heads": 2, "layers": 2, "ff_dim": 16, "dropout": 0.1} | kwargs
    return HybridAttentionEncoder(M, n_steps=T, use_global_query=use_global_query, **options).eval()


def test_positional_encoding_eq7_by_hand():
    pe = sinusoidal_encoding(3, 4)
    assert pe.shape == (3, 4) and pe.dtype == torch.float32
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))  # sin(0), cos(0), ...
    # t = 1, m = 4: i = 0 -> 1 / 10000^0 = 1;  i = 1 -> 1 / 10000^(2/4) = 0.01
    torch.testing.assert_close(pe[1], torch.tensor([math.sin(1.0), math.cos(1.0), math.sin(0.01), math.cos(0.01)]))
    torch.testing.assert_close(pe[2, :2], torch.tensor([math.sin(2.0), math.cos(2.0)]))
    with pytest.raises(InputError, match="even embedding size m; got 5"):
        sinusoidal_encoding(3, 5)


def test_shapes_and_attention_tensor():
    enc = _encoder()
    z = torch.randn(3, T, M)
    assert enc(z).shape == (3, T, M)
    out, attn = enc(z, return_attention=True)
    assert out.shape == (3, T, M)
    assert attn.shape == (2, 3, 2, T, T)  # (layers, B, heads, T, T)


@pytest.mark.parametrize("use_global_query", [True, False])
def test_attention_rows_sum_to_one(use_global_query):
    enc = _encoder(use_global_query).train()  # dropout on: still exact softmax rows
    _, attn = enc(torch.randn(4, T, M), return_attention=True)
    assert bool((attn >= 0).all())
    torch.testing.assert_close(attn.sum(dim=-1), torch.ones(2, 4, 2, T))


def test_global_query_is_a_shared_small_parameter_per_layer():
    enc = _encoder(global_query_init_std=0.02)
    gs = [layer.attention.global_query for layer in enc.layers]
    assert all(g is not None and g.shape == (T, M) and g.requires_grad for g in gs)
    assert gs[0] is not gs[1]
    assert float(torch.stack([g.detach() for g in gs]).std()) < 0.1
    assert all(layer.attention.global_query is None for layer in _encoder(False).layers)


def test_zero_global_query_equals_self_attention():
    hybrid, plain = _encoder(True), _encoder(False)
    missing, unexpected = plain.load_state_dict(hybrid.state_dict(), strict=False)
    assert missing == [] and sorted(unexpected) == ["layers.0.attention.global_query", "layers.1.attention.global_query"]
    z = torch.randn(3, T, M)
    with torch.no_grad():
        for layer in hybrid.layers:
            layer.attention.global_query.normal_(0, 1.0)
        assert not torch.allclose(hybrid(z), plain(z), atol=1e-4)  # a real G changes the output
        for layer in hybrid.layers:
            layer.attention.global_query.zero_()
        out_h, attn_h = hybrid(z, return_attention=True)
        out_p, attn_p = plain(z, return_attention=True)
    torch.testing.assert_close(out_h, out_p)
    torch.testing.assert_close(attn_h, attn_p)


def test_multi_head_attention_eq8_to_11_by_hand():
    torch.manual_seed(1)
    mha = HybridMultiHeadAttention(dim=4, heads=2, n_steps=3)
    z = torch.randn(1, 3, 4)
    out, attn = mha(z)
    with torch.no_grad():
        h = z[0] @ mha.w_q.weight.T + mha.global_query  # Eq. 8
        k, v = z[0] @ mha.w_k.weight.T, z[0] @ mha.w_v.weight.T
        heads = []
        for i in range(2):  # head i takes columns 2i, 2i+1
            cols = slice(2 * i, 2 * i + 2)
            s = torch.softmax(h[:, cols] @ k[:, cols].T / math.sqrt(4 / 2), dim=-1)  # Eq. 9
            torch.testing.assert_close(attn[0, i], s)
            heads.append(s @ v[:, cols])  # Eq. 10
        expected = torch.cat(heads, dim=1) @ mha.w_out.weight.T  # Eq. 11
    torch.testing.assert_close(out[0], expected)


@pytest.mark.parametrize("use_global_query", [True, False])
def test_reordering_months_changes_output(use_global_query):
    enc = _encoder(use_global_query)
    z = torch.randn(2, T, M)
    perm = torch.tensor([6, 5, 4, 3, 2, 1, 0])
    with torch.no_grad():
        out, out_perm = enc(z), enc(z[:, perm])
    assert not torch.allclose(out_perm, out[:, perm], atol=1e-3)
    assert not torch.allclose(out_perm.mean(1), out.mean(1), atol=1e-3)  # also after temporal pooling


def test_without_positional_encoding_self_attention_ignores_order():
    # The check above is meaningful: with PE zeroed, self-attention is permutation-equivariant.
    enc = _encoder(False)
    enc.positional_encoding.zero_()
    z = torch.randn(2, T, M)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    with torch.no_grad():
        torch.testing.assert_close(enc(z[:, perm]), enc(z)[:, perm], rtol=1e-4, atol=1e-5)


def test_eval_output_independent_of_batch():
    enc = _encoder()
    z = torch.randn(5, T, M)
    with torch.no_grad():
        torch.testing.assert_close(enc(z[2:3]), enc(z)[2:3], rtol=1e-5, atol=1e-6)


def test_norm_first_variant():
    enc = _encoder(norm_first=True)
    out = enc(torch.randn(2, T, M))
    assert out.shape == (2, T, M)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, T), atol=1e-5, rtol=0)  # final LayerNorm


def test_bad_shapes_and_arguments():
    enc = _encoder()
    with pytest.raises(InputError, match=r"expected month embeddings of shape \(B, T=7, m=8\); got \(2, 6, 8\)"):
        enc(torch.randn(2, 6, M))
    with pytest.raises(InputError, match="got \\(7, 8\\)"):
        enc(torch.randn(T, M))
    with pytest.raises(InputError, match="m=8 must be divisible by the number of heads h=3"):
        HybridAttentionEncoder(8, n_steps=T, heads=3)
    with pytest.raises(InputError, match="layers must be a positive integer; got 0"):
        HybridAttentionEncoder(8, n_steps=T, heads=2, layers=0)
