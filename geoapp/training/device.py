"""Device choice for training and inference: CUDA when present (with AMP), else CPU.

The CUDA path of the trainers: mixed precision (``DeviceInfo.amp``: float16 autocast with a gradient
scaler), batches copied from pinned (page-locked) host memory with non-blocking copies
(:func:`to_device`), so the copy of the next batch can overlap the GPU's work on this one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from geoapp.data.args import given
from geoapp.errors import InputError

__all__ = ["DeviceInfo", "PRECISIONS", "resolve_device", "describe_devices", "to_device", "autocast_dtype", "bf16_supported"]

PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
"""Training arithmetic: ``auto`` (float16 mixed precision on a GPU, float32 on the CPU), ``float32``, or
``bfloat16`` mixed precision (autocast: weights, optimizer and losses stay float32)."""


@dataclass(frozen=True)
class DeviceInfo:
    """The device a job runs on, in words a user can read."""

    device: torch.device
    name: str
    memory_gb: float | None
    amp: bool  # mixed precision (CUDA only)


def resolve_device(choice: str = "auto") -> DeviceInfo:
    """``auto`` (CUDA if available, else CPU), ``cuda`` (error if absent) or ``cpu`` (any case).

    Raises:
        InputError: ``choice`` is not one of those (None and numbers included), or ``cuda`` without a GPU.
    """
    if not isinstance(choice, str) or choice.strip().lower() not in ("auto", "cuda", "cpu"):
        raise InputError(f"device must be 'auto', 'cuda' or 'cpu', got {given(choice)}")
    choice = choice.strip().lower()
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' asked for, but no CUDA GPU is visible; use 'auto' or 'cpu'")
    if choice in ("auto", "cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return DeviceInfo(torch.device("cuda", 0), props.name, round(props.total_memory / 2**30, 1), amp=True)
    return DeviceInfo(
        torch.device("cpu"),
        f"CPU ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''})",
        None,
        amp=False,
    )


def bf16_supported() -> bool:
    """Whether this machine's CPU has native bfloat16 arithmetic (AVX-512 BF16 or AMX), where bfloat16 pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(info: DeviceInfo, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype of a training step on ``info`` at ``precision`` (:data:`PRECISIONS`); None: float32.

    ``auto`` is float16 on CUDA (``info.amp``, with a gradient scaler) and float32 on the CPU;
    ``bfloat16`` needs no gradient scaler (its exponent range is float32's).

    Raises:
        InputError: an unknown precision, or bfloat16 on a GPU without it.
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {list(PRECISIONS)}, got {given(precision)}")
    if precision == "bfloat16":
        if info.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise InputError(f"precision 'bfloat16' asked for, but the GPU {info.name} has no bfloat16 support; use 'auto'")
        return torch.bfloat16
    if precision == "auto" and info.amp:
        return torch.float16
    return None


def describe_devices() -> str:
    """One line: the GPU found (name, memory) or that training runs on the CPU."""
    info = resolve_device("auto")
    if info.device.type == "cuda":
        return f"GPU: {info.name}, {info.memory_gb} GB (mixed precision on)"
    return f"No GPU found: training runs on the {info.name}"


def to_device(tensor: torch.Tensor, info: DeviceInfo) -> torch.Tensor:
    """Move a host tensor to ``info``'s device: pinned + non-blocking to CUDA; unchanged on CPU.

    Raises:
        InputError: ``tensor`` is not a torch tensor, or ``info`` not a :class:`DeviceInfo`.
    """
    if not isinstance(tensor, torch.Tensor):
        raise InputError(f"tensor must be a torch.Tensor, got {given(tensor)}")
    if not isinstance(info, DeviceInfo):
        raise InputError(f"info must be a DeviceInfo from resolve_device(), got {given(info)}")
    if info.device.type != "cuda":
        return tensor.to(info.device)
    if tensor.device.type == "cpu" and not tensor.is_pinned():
        tensor = tensor.pin_memory()
    return tensor.to(info.device, non_blocking=True)
