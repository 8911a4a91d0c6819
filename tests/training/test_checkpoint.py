"""Checkpoint folders: safetensors + JSON card, optimizer state for resume, clear errors."""

from __future__ import annotations

import pytest
import torch

from geoapp.errors import DataFileError, InputError, MissingDataError
from geoapp.training.checkpoint import check_card, load_checkpoint, optimizer_from_flat, optimizer_to_flat, save_checkpoint


def _model_and_opt():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt


def test_round_trip_weights_card_and_optimizer(tmp_path):
    model, opt = _model_and_opt()
    folder = save_checkpoint(
        tmp_path / "ck", model, {"model": "toy", "metrics": {"rmse": 1.5}}, optimizer=opt, train_state={"epoch": 3}
    )
    weights, card, state = load_checkpoint(folder, with_train_state=True)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(weights[k], v)
    assert card["model"] == "toy" and card["metrics"]["rmse"] == 1.5 and "code_version" in card
    assert state["epoch"] == 3
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-2)
    fresh.load_state_dict(state["optimizer"])
    torch.testing.assert_close(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert not list(tmp_path.glob(".ck.*"))  # no temporary folder left


def test_optimizer_flat_round_trip():
    _, opt = _model_and_opt()
    tensors, meta = optimizer_to_flat(opt.state_dict())
    back = optimizer_from_flat(tensors, meta)
    assert back["param_groups"] == opt.state_dict()["param_groups"]
    assert set(back["state"]) == set(opt.state_dict()["state"])


def test_corrupted_weights_are_a_clear_error(tmp_path):
    model, _ = _model_and_opt()
    folder = save_checkpoint(tmp_path / "ck", model, {"model": "toy"})
    (folder / "model.safetensors").write_bytes(b"\x00\x01not a safetensors file")
    with pytest.raises(DataFileError, match="corrupted"):
        load_checkpoint(folder)


def test_missing_and_garbled_cards(tmp_path):
    with pytest.raises(MissingDataError, match="no checkpoint card"):
        load_checkpoint(tmp_path / "nothing")
    model, _ = _model_and_opt()
    folder = save_checkpoint(tmp_path / "ck", model, {"model": "toy"})
    (folder / "card.json").write_text("{not json")
    with pytest.raises(DataFileError, match="garbled"):
        load_checkpoint(folder)


def test_check_card_names_each_mismatch():
    with pytest.raises(InputError, match=r"fingerprint: checkpoint has 'abc', expected 'xyz'"):
        check_card({"fingerprint": "abc", "tile_px": 16}, fingerprint="xyz", tile_px=16)
    check_card({"fingerprint": "abc"}, fingerprint="abc")


def test_list_checkpoints_skips_resume_state_and_garbled_cards(tmp_path):
    from geoapp.training.checkpoint import list_checkpoints

    model, opt = _model_and_opt()
    save_checkpoint(tmp_path / "run" / "best", model, {"model": "toy"})
    save_checkpoint(tmp_path / "run" / "last", model, {"model": "toy"}, optimizer=opt)
    bad = save_checkpoint(tmp_path / "other", model, {"model": "toy"})
    (bad / "card.json").write_text("{")
    found = list_checkpoints(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f, _ in found] == ["run/best"]
    assert list_checkpoints(tmp_path / "missing") == []
