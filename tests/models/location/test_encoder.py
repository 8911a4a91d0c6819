"""Networks (SIREN, MLP), the location encoder and its config."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from geoapp.errors import InputError
from geoapp.models.location import (
    MLP,
    LocationEncoder,
    LocationEncoderConfig,
    SirenNet,
    build_location_encoder,
    make_encoding,
    make_network,
)

LAT = torch.tensor([0.0, 45.5, -33.9, 89.0, -60.0])
LON = torch.tensor([0.0, -122.3, 151.2, 10.0, 200.0])


def test_siren_shapes_and_init():
    torch.manual_seed(0)
    net = SirenNet(121, 16, hidden_dim=32, num_layers=3)
    assert net(torch.randn(7, 121)).shape == (7, 16)
    assert net.in_dim == 121 and net.out_dim == 16
    sine_layers = list(net.layers)
    assert len(sine_layers) == 3 and sine_layers[0].w0 == 30.0 and sine_layers[1].w0 == 1.0
    assert float(sine_layers[0].linear.weight.detach().abs().max()) <= 1.0 / 121  # first layer: U(-1/in, 1/in)
    assert float(sine_layers[1].linear.weight.detach().abs().max()) <= (6.0 / 32) ** 0.5  # hidden: sqrt(6/in)/w0


def test_siren_dropout_only_in_training():
    torch.manual_seed(0)
    net = SirenNet(4, 3, hidden_dim=64, num_layers=3, dropout=0.5)
    x = torch.randn(5, 4)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_mlp_shapes_and_layers():
    net = MLP(4, 8, hidden_dim=16, num_layers=3, dropout=0.1)
    assert net(torch.randn(6, 4)).shape == (6, 8)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(4, 16), (16, 16), (16, 16), (16, 8)]
    assert len({id(m) for m in linears}) == 4  # distinct layers, not one repeated


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_network("transformer", 4, 8), r"unknown network 'transformer'; expected one of \['mlp', 'siren'\]"),
        (lambda: make_network("mlp", 4, 8, width=3), r"unknown option\(s\) \['width'\] for network 'mlp'"),
        (lambda: make_network("siren", 4, 8, dropout=-0.1), "dropout must be a finite number >= 0"),
        (lambda: SirenNet(4, 8, num_layers=0), "num_layers must be an integer of at least 1"),
        (lambda: SirenNet(4, 8, w0=0.0), "w0 must be a finite number > 0"),
        (lambda: MLP(4, 8, dropout=1.0), r"dropout must be a probability in \[0, 1\)"),
        (lambda: MLP(0, 8), "in_dim must be an integer of at least 1"),
    ],
)
def test_network_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_location_encoder_is_network_of_encoding():
    encoding = make_encoding("spherical_harmonics", degree=4)
    network = make_network("siren", encoding.output_dim, 12, hidden_dim=16)
    encoder = LocationEncoder(encoding, network)
    out = encoder(LAT, LON)
    assert out.shape == (5, 12)
    torch.testing.assert_close(out, network(encoding(LAT, LON)))


def test_build_from_default_config():
    encoder = build_location_encoder(LocationEncoderConfig())
    assert encoder.encoding.output_dim == 121 and encoder.network.out_dim == 256
    assert encoder(LAT, LON).shape == (5, 256)


@pytest.mark.parametrize("encoding", ["spherical_harmonics", "wrap", "grid", "theory", "sphere_c", "sphere_m", "rff_equal_earth"])
@pytest.mark.parametrize("network", ["siren", "mlp"])
def test_every_pair_builds_and_backpropagates(encoding, network):
    config = LocationEncoderConfig(encoding=encoding, network=network, network_kwargs={"hidden_dim": 16}, embedding_dim=8)
    encoder = build_location_encoder(config)
    lat = LAT.clone().requires_grad_()
    out = encoder(lat, LON)
    assert out.shape == (5, 8) and torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(lat.grad).all()
    assert all(p.grad is not None for p in encoder.network.parameters())


def test_config_round_trips_through_json():
    config = LocationEncoderConfig(encoding="sphere_c", encoding_kwargs={"frequency_num": 4}, embedding_dim=32)
    again = LocationEncoderConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert build_location_encoder(config.to_dict())(LAT, LON).shape == (5, 32)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"encoder": "wrap"}, r"unknown location encoder config key\(s\) \['encoder'\]; allowed: \['encoding'"),
        ({"encoding": "nope"}, r"unknown positional encoding 'nope'; expected one of"),
        ({"network": "cnn"}, r"unknown network 'cnn'"),
        ({"encoding": "wrap", "encoding_kwargs": {"degree": 3}}, r"unknown option\(s\) \['degree'\] for encoding 'wrap'"),
        ({"network_kwargs": {"in_dim": 3}}, r"\['in_dim'\] are set by the builder"),
        ({"network_kwargs": {"layers": 3}}, r"unknown option\(s\) \['layers'\] for network 'siren'"),
        ({"embedding_dim": 0}, "embedding_dim must be an integer of at least 1"),
        ({"embedding_dim": 2.5}, "embedding_dim must be (an integer|a whole number)"),
        ({"encoding_kwargs": [1, 2]}, "(encoding 'spherical_harmonics' must be a mapping|encoding_kwargs must be an object)"),
    ],
)
def test_config_errors(data, match):
    with pytest.raises(InputError, match=match):
        LocationEncoderConfig.from_dict(data)


def test_config_must_be_a_mapping():
    with pytest.raises(InputError, match="must be a mapping; got list"):
        build_location_encoder([("encoding", "wrap")])


def test_bad_option_value_raises_at_build():
    config = LocationEncoderConfig(encoding_kwargs={"degree": -2})
    with pytest.raises(InputError, match="degree must be an integer"):
        build_location_encoder(config)
