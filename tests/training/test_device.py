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
