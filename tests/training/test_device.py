"""Device choice and the CUDA transfer path, checked on whatever this machine has (CI: CPU only)."""

from __future__ import annotations

import pytest
import torch

from geoapp.errors import InputError
from geoapp.jobs.spec import JobSpec
from geoapp.training.device import describe_devices, resolve_device, to_device

HAS_CUDA = torch.cuda.is_available()


def test_cpu_choice_has_no_mixed_precision_and_names_the_threads():
    info = resolve_device("cpu")
    assert info.device.type == "cpu" and info.amp is False and info.memory_gb is None
    assert info.name.startswith("CPU (")
    with pytest.raises(InputError, match="'auto', 'cuda' or 'cpu'"):
        resolve_device("tpu")


def test_auto_follows_what_is_visible():
    info = resolve_device("auto")
    assert (info.device.type == "cuda") == HAS_CUDA and info.amp == HAS_CUDA
    assert describe_devices().startswith("GPU:" if HAS_CUDA else "No GPU found")


@pytest.mark.skipif(HAS_CUDA, reason="checks the refusal when no GPU is visible")
def test_cuda_without_a_gpu_is_refused_by_resolve_and_by_the_job_form():
    with pytest.raises(InputError, match="no CUDA GPU is visible"):
        resolve_device("cuda")
    with pytest.raises(InputError, match="no CUDA GPU is visible"):
        JobSpec("location", "x", {"device": "cuda"})


def test_to_device_on_cpu_is_a_plain_move():
    t = torch.arange(6.0)
    out = to_device(t, resolve_device("cpu"))
    assert out.device.type == "cpu" and torch.equal(out, t)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (CI has none; run on a GPU machine)")
def test_to_device_on_cuda_pins_and_copies_without_blocking():
    info = resolve_device("cuda")
    t = torch.arange(6.0)
    out = to_device(t, info)
    torch.cuda.synchronize()
    assert out.device.type == "cuda" and torch.equal(out.cpu(), t) and info.amp


def test_autocast_dtype_follows_the_precision_and_the_device():
    from geoapp.training.device import autocast_dtype, bf16_supported

    cpu = resolve_device("cpu")
    assert autocast_dtype(cpu) is None and autocast_dtype(cpu, "float32") is None  # the CPU's default: float32
    assert autocast_dtype(cpu, "bfloat16") is torch.bfloat16
    assert autocast_dtype(resolve_device("auto"), "auto") is (torch.float16 if HAS_CUDA else None)
    assert isinstance(bf16_supported(), bool)
    with pytest.raises(InputError, match="precision"):
        autocast_dtype(cpu, "float8")


def test_a_bfloat16_run_trains_in_mixed_precision_and_records_it(tiny_dataset_path, tmp_path, monkeypatch):
    """The step runs under a bfloat16 autocast (seen by the model's forward); the weights stay float32."""
    import torch.nn.functional as F

    from geoapp.data.dataset import load_dataset
    from geoapp.training.checkpoint import load_checkpoint
    from geoapp.training.yield_trainer import YieldTrainConfig, train_yield

    seen: list[torch.dtype | None] = []
    conv = F.conv2d

    def spy(*args, **kwargs):
        out = conv(*args, **kwargs)
        if torch.is_grad_enabled():  # training steps, not validation
            seen.append(out.dtype)
        return out

    monkeypatch.setattr(F, "conv2d", spy)
    ds = load_dataset(tiny_dataset_path)
    base = dict(model="semi-ha", test_year=2016, n_train_years=3, epochs=1, batch_size=16, max_train_examples=32, device="cpu")
    best = train_yield(YieldTrainConfig(**base, precision="bfloat16"), ds, tmp_path / "bf16", progress=False)
    weights, card, _ = load_checkpoint(best)
    assert card["train_config"]["precision"] == "bfloat16" and "precision" in card["applies"]
    assert all(v.dtype in (torch.float32, torch.int64) for v in weights.values())
    assert seen and set(seen) == {torch.bfloat16}
    seen.clear()
    train_yield(YieldTrainConfig(**base), ds, tmp_path / "fp32", progress=False)
    assert seen and set(seen) == {torch.float32}  # the CPU default stays float32
    ds.close()


def test_a_compiled_run_trains_and_saves_the_uncompiled_model(tiny_dataset_path, tmp_path):
    """torch.compile wraps the training step only: the checkpoint holds the model's own weights and loads as any."""
    from geoapp.data.dataset import load_dataset
    from geoapp.training.checkpoint import read_card
    from geoapp.training.yield_trainer import YieldTrainConfig, evaluate_yield, train_yield

    ds = load_dataset(tiny_dataset_path)
    cfg = YieldTrainConfig(
        model="s-ha", test_year=2016, n_train_years=3, epochs=1, batch_size=16, max_train_examples=32, device="cpu",
        compile=True, model_overrides={"embed_dim": 16, "cnn_width": 4, "heads": 2, "layers": 1, "ff_dim": 32},
    )  # fmt: skip
    best = train_yield(cfg, ds, tmp_path / "compiled", progress=False)
    card = read_card(best)
    assert card["train_config"]["compile"] is True and "compile" in card["applies"]
    result = evaluate_yield(best, ds)
    assert result["rmse"] == pytest.approx(card["metrics"]["test_rmse"], rel=1e-4)
    ds.close()
