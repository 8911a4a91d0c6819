"""Resuming from ``last/``: weights, optimizer, learning-rate schedule and the AMP gradient scaler."""

from __future__ import annotations

import pytest
import torch

from geoapp.errors import InputError
from geoapp.training.checkpoint import save_checkpoint
from geoapp.training.resume import OtherRunError, resume_from_last, train_state

STEPS, EPOCHS = 3, 4


def _parts(enabled: bool = True):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=STEPS * EPOCHS)
    scaler = torch.amp.GradScaler("cpu", enabled=enabled, init_scale=1024.0, growth_interval=10)
    return model, opt, sched, scaler


def _train_one_epoch(model, opt, sched, scaler, poison_step: int | None = None):
    for step in range(STEPS):
        x = torch.randn(4, 3)
        loss = model(x).pow(2).mean()
        if step == poison_step:
            loss = loss * float("inf")  # an overflow: the scaler skips the step and halves its scale
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_resume_restores_scaler_schedule_optimizer_and_counters(tmp_path):
    model, opt, sched, scaler = _parts()
    _train_one_epoch(model, opt, sched, scaler, poison_step=0)
    assert scaler.get_scale() == 512.0 and scaler.state_dict()["_growth_tracker"] == 2  # halved, then 2 good steps
    save_checkpoint(
        tmp_path / "last", model, {"kind": "test"}, optimizer=opt, train_state=train_state(scaler, epoch=0, best_rmse=5.5)
    )

    model2, opt2, sched2, scaler2 = _parts()
    state = resume_from_last(tmp_path / "last", model2, opt2, sched2, scaler2, STEPS, EPOCHS)
    assert state == {"epoch": 0, "best_rmse": 5.5}
    assert scaler2.state_dict() == scaler.state_dict()
    assert sched2.get_last_lr() == pytest.approx(sched.get_last_lr())
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_disabled_scaler_is_not_saved_and_old_checkpoints_still_resume(tmp_path):
    model, opt, sched, scaler = _parts(enabled=False)
    _train_one_epoch(model, opt, sched, scaler)
    assert "grad_scaler" not in train_state(scaler, epoch=0)
    save_checkpoint(tmp_path / "last", model, {"kind": "test"}, optimizer=opt, train_state=train_state(scaler, epoch=0))
    model2, opt2, sched2, scaler2 = _parts(enabled=True)  # e.g. a CPU run resumed on a GPU
    state = resume_from_last(tmp_path / "last", model2, opt2, sched2, scaler2, STEPS, EPOCHS)
    assert state == {"epoch": 0}
    assert scaler2.get_scale() == 1024.0  # kept its own initial scale


def test_nothing_to_resume(tmp_path):
    model, opt, sched, scaler = _parts()
    assert resume_from_last(tmp_path / "missing", model, opt, sched, scaler, STEPS, EPOCHS) is None
    save_checkpoint(tmp_path / "weights-only", model, {"kind": "test"})  # no optimizer state
    model2 = _parts()[0]
    with torch.no_grad():
        model2.weight.zero_()
    assert resume_from_last(tmp_path / "weights-only", model2, opt, sched, scaler, STEPS, EPOCHS) is None
    assert not model2.weight.any()  # nothing loaded: the run starts from scratch, not from orphaned weights


def test_a_checkpoint_of_another_run_is_refused_with_the_difference(tmp_path):
    model, opt, sched, scaler = _parts()
    card = {"kind": "test", "model_config": {"embed_dim": 16, "sizes": [1, 2]}, "dataset": {"fingerprint": "abc"}}
    save_checkpoint(tmp_path / "last", model, card, optimizer=opt, train_state=train_state(scaler, epoch=0))
    ok = resume_from_last(
        tmp_path / "last", model, opt, sched, scaler, STEPS, EPOCHS, expected={"model_config": {"embed_dim": 16, "sizes": (1, 2)}}
    )  # a tuple equals the saved list
    assert ok == {"epoch": 0}
    with pytest.raises(InputError, match="fingerprint.*'abc'.*'xyz'"):
        resume_from_last(
            tmp_path / "last", model, opt, sched, scaler, STEPS, EPOCHS, expected={"dataset": {"fingerprint": "xyz"}}
        )


def test_schedule_replay_stops_at_the_last_step(tmp_path):
    model, opt, sched, scaler = _parts()
    for _ in range(EPOCHS):
        _train_one_epoch(model, opt, sched, scaler)
    save_checkpoint(
        tmp_path / "last", model, {"kind": "test"}, optimizer=opt, train_state=train_state(scaler, epoch=EPOCHS + 2)
    )  # counters past the schedule's end
    model2, opt2, sched2, scaler2 = _parts()
    resume_from_last(tmp_path / "last", model2, opt2, sched2, scaler2, STEPS, EPOCHS)  # must not raise
    assert sched2.last_epoch == STEPS * EPOCHS


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_an_optimizer_state_with_other_parameter_groups_is_refused_and_the_model_left_as_it_was(tmp_path):
    model, opt, sched, scaler = _parts()
    _train_one_epoch(model, opt, sched, scaler)
    save_checkpoint(tmp_path / "last", model, {"kind": "test"}, optimizer=opt, train_state=train_state(scaler, epoch=0))
    model2 = _parts()[0]
    before = [p.detach().clone() for p in model2.parameters()]
    grouped = torch.optim.AdamW(
        [{"params": [model2.weight], "weight_decay": 0.1}, {"params": [model2.bias], "weight_decay": 0.0}], lr=0.01
    )  # two groups where the checkpoint's optimizer had one
    sched2 = torch.optim.lr_scheduler.OneCycleLR(grouped, max_lr=0.01, total_steps=STEPS * EPOCHS)
    with pytest.raises(OtherRunError, match="optimizer state does not fit.*start a new run"):
        resume_from_last(tmp_path / "last", model2, grouped, sched2, scaler, STEPS, EPOCHS)
    for a, b in zip(before, model2.parameters(), strict=True):
        assert torch.equal(a, b)
