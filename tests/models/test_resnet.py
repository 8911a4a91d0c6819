"""The spatial encoder g(.): a ResNet-18-style CNN without the classification layer."""

from __future__ import annotations

import pytest
import torch

from geoapp.errors import InputError
from geoapp.models.resnet import BasicBlock, ResNetEncoder, fold_batchnorm


@pytest.mark.parametrize(("small_input", "size", "final_px"), [(True, 16, 2), (True, 8, 1), (False, 32, 1), (False, 50, 2)])
def test_shapes_and_final_map_size(small_input, size, final_px):
    torch.manual_seed(0)
    enc = ResNetEncoder(in_channels=9, embed_dim=12, width=4, small_input=small_input)
    x = torch.randn(3, 9, size, size)
    assert enc(x).shape == (3, 12)
    assert enc.output_dim == 12
    features = enc.stages(enc.stem(x))
    assert features.shape == (3, 32, final_px, final_px)  # 8 x width channels after the last stage


def test_small_input_keeps_resolution_in_first_stage():
    x = torch.randn(2, 9, 16, 16)
    small = ResNetEncoder(9, 8, width=4, small_input=True)
    imagenet = ResNetEncoder(9, 8, width=4, small_input=False)
    assert small.stem(x).shape[-2:] == (16, 16)  # 3x3 stride-1 stem
    assert imagenet.stem(x).shape[-2:] == (4, 4)  # 7x7 stride 2 + max-pool: 16 -> 8 -> 4


def test_width_64_backbone_is_resnet18():
    # torchvision's resnet18 has 11,689,512 parameters: 9,408 in the 3-band stem and 513,000 in the 1000-way fc.
    # Here: a 9-band stem (7*7*9*64 = 28,224) and a 512 -> 512 embedding layer (262,656).
    enc = ResNetEncoder(in_channels=9, embed_dim=512, width=64)
    n = sum(p.numel() for p in enc.parameters())
    assert n == 11_689_512 - 9_408 - 513_000 + 28_224 + 262_656


def test_basic_block_shortcut():
    assert BasicBlock(4, 4)(torch.randn(1, 4, 6, 6)).shape == (1, 4, 6, 6)
    block = BasicBlock(4, 8, stride=2)
    assert block(torch.randn(1, 4, 6, 6)).shape == (1, 8, 3, 3)
    assert len(block.shortcut) == 2  # 1x1 conv + BatchNorm


def test_eval_output_independent_of_batch():
    torch.manual_seed(0)
    enc = ResNetEncoder(9, 8, width=4, small_input=True)
    enc.train()
    enc(torch.randn(6, 9, 8, 8))  # update the running statistics once
    enc.eval()
    x = torch.randn(5, 9, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(enc(x[:1]), enc(x)[:1], rtol=1e-5, atol=1e-6)


def test_bad_inputs_and_arguments():
    enc = ResNetEncoder(9, 8, width=4, small_input=True)
    with pytest.raises(InputError, match=r"expected tiles of shape \(B, 9, H, W\); got \(2, 3, 8, 8\)"):
        enc(torch.randn(2, 3, 8, 8))
    with pytest.raises(InputError, match="got \\(9, 8, 8\\)"):
        enc(torch.randn(9, 8, 8))
    with pytest.raises(InputError, match="width must be a positive integer; got 0"):
        ResNetEncoder(9, 8, width=0)
    with pytest.raises(InputError, match="embed_dim must be a positive integer"):
        ResNetEncoder(9, 8.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("small_input", [True, False])
def test_fold_batchnorm_matches_eval_encoder_and_leaves_it_alone(small_input):
    torch.manual_seed(0)
    enc = ResNetEncoder(in_channels=3, embed_dim=8, width=4, small_input=small_input)
    enc.train()
    for _ in range(3):  # move the running statistics away from their initial values
        enc(torch.randn(6, 3, 32, 32) * 2 + 1)
    enc.eval()
    x = torch.randn(5, 3, 32, 32)
    folded = fold_batchnorm(enc)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), enc(x), rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules()) == 1 + 2 * 8 + 3  # stem, blocks, shortcuts
