"""A faster CPU weight gradient for the supernet's 5x5 and 7x7 depthwise convolutions.

On CPU, PyTorch computes a depthwise convolution's weight gradient with oneDNN, which runs it far below
the machine's arithmetic peak; on the supernet's training step it was the largest single cost
(`experiments/results/train_profile.md`). `_dwgrad.c` computes the same sums, vectorised along channels
with the partial sums of a whole kernel row held in registers (figures in docs/training.md). It is plain
C (no PyTorch headers), compiled once per machine with the system's C compiler into a cache folder and
loaded with ctypes; where no compiler works, training uses PyTorch's kernel unchanged (logged once).

`depthwise_conv2d` is what `DynamicDepthwiseConv2d` calls. The forward pass and the input gradient stay
PyTorch's; only the weight gradient of a float32 CPU step with a 5x5 or 7x7 kernel (3x3: oneDNN is
faster) goes through the C kernel. GPUs, autocast, float64 and inference never see it.
`SUPERNET_DW_GRAD=torch` (or `use_kernel(False)`) turns it off, e.g. to time both side by side.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = ["depthwise_conv2d", "kernel_available", "kernel_enabled", "kernel_sizes", "use_kernel"]

_log = logging.getLogger(__name__)
_SOURCE = Path(__file__).with_suffix(".c")
_FLAG_SETS = (["-O3", "-march=native"], ["-O3"])  # the first that compiles (-march: the CPU's vectors)
_KERNEL_SIZES = (5, 7)
_state: dict = {}  # "lib": the loaded library (or None); "enabled": the override of `use_kernel`


def kernel_sizes() -> tuple[int, ...]:
    """The kernel sizes whose weight gradient goes through the C kernel."""
    return _KERNEL_SIZES


def _cache_dir() -> Path:
    """$SUPERNET_CACHE, else $XDG_CACHE_HOME/supernet, else ~/.cache/supernet; where that cannot be
    written (a read-only home), a per-user folder in the temporary directory."""
    if os.environ.get("SUPERNET_CACHE"):
        return Path(os.environ["SUPERNET_CACHE"])
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "supernet"
    try:
        home.mkdir(parents=True, exist_ok=True)
        if os.access(home, os.W_OK):
            return home
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"supernet-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def _cpu_key() -> str:
    """The library is built for this CPU (-march=native): a shared cache must not mix machines."""
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return f"{platform.system()}-{platform.machine()}-{flags}"


def _compile() -> ctypes.CDLL | None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        _log.warning("depthwise weight gradient: no C compiler found; using PyTorch's kernel")
        return None
    source = _SOURCE.read_bytes()
    errors = []
    for flags in _FLAG_SETS:
        key = hashlib.sha256(b"\0".join([source, cc.encode(), " ".join(flags).encode(), _cpu_key().encode()]))
        lib = _cache_dir() / f"dwgrad-{key.hexdigest()[:16]}.so"
        if not lib.is_file():
            try:
                lib.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=lib.parent, suffix=".so.tmp")
                os.close(fd)
                cmd = [cc, *flags, "-pthread", "-shared", "-fPIC", str(_SOURCE), "-o", tmp]
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
                if done.returncode != 0:
                    os.unlink(tmp)
                    errors.append(done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"])
                    continue
                os.replace(tmp, lib)  # atomic: ranks compiling at once each publish a whole file
            except (OSError, subprocess.SubprocessError) as exc:
                errors.append([str(exc)])
                continue
        try:
            handle = ctypes.CDLL(str(lib))
        except OSError as exc:
            errors.append([str(exc)])
            continue
        fn = handle.dw_weight_grad
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int] * 9
        return handle
    _log.warning("depthwise weight gradient: C kernel unavailable (%s); using PyTorch's kernel", errors)
    return None


def _library() -> ctypes.CDLL | None:
    if "lib" not in _state:
        _state["lib"] = _compile()
    return _state["lib"]


def kernel_enabled() -> bool:
    """False when switched off (`SUPERNET_DW_GRAD=torch` or inside `use_kernel(False)`)."""
    if "enabled" in _state:
        return _state["enabled"]
    return os.environ.get("SUPERNET_DW_GRAD", "c") != "torch"


def kernel_available() -> bool:
    """True when the C kernel compiled and loaded on this machine (compiles it on first call)."""
    return _library() is not None


@contextmanager
def use_kernel(enabled: bool):
    """Turn the C kernel on or off inside the block (benchmarks time both ways in one process)."""
    before = _state.get("enabled")
    _state["enabled"] = enabled
    try:
        yield
    finally:
        if before is None:
            del _state["enabled"]
        else:
            _state["enabled"] = before


def weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: int, stride: int) -> torch.Tensor:
    """d(loss)/d(weight) of `F.conv2d(x, w, stride=stride, padding=k//2, groups=C)`, shape (C, 1, k, k)."""
    n, c, h, w = x.shape
    xs = x.permute(0, 2, 3, 1).contiguous()  # free for channels_last tensors
    gs = grad_out.permute(0, 2, 3, 1).contiguous()
    out = torch.empty(c, 1, kernel_size, kernel_size, dtype=torch.float32)
    status = _library().dw_weight_grad(
        xs.data_ptr(), gs.data_ptr(), out.data_ptr(), n, h, w, c, *gs.shape[1:3], kernel_size, stride,
        torch.get_num_threads(),
    )  # fmt: skip
    if status != 0:
        raise RuntimeError(f"depthwise weight gradient kernel failed (status {status}) for {tuple(x.shape)}")
    return out


class _DepthwiseConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride = stride
        k = weight.shape[-1]
        return F.conv2d(x, weight, None, stride, k // 2, 1, x.shape[1])

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, weight = ctx.saved_tensors
        k, s = weight.shape[-1], ctx.stride
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, [s, s], [k // 2] * 2, [1, 1], False, [0, 0], x.shape[1],
                [True, False, False],
            )[0]  # fmt: skip
        if ctx.needs_input_grad[1]:
            grad_w = weight_grad(x, grad_out, k, s)
        return grad_x, grad_w, None


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, stride: int | Sequence[int]) -> torch.Tensor:
    """`F.conv2d(x, weight, None, stride, k // 2, 1, groups=C)` with the C weight gradient where it applies."""
    k = weight.shape[-1]
    s = stride if isinstance(stride, int) else stride[0]
    fast = (
        kernel_enabled()
        and k in _KERNEL_SIZES
        and weight.requires_grad
        and torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and (isinstance(stride, int) or stride[0] == stride[1])
        and not torch.is_autocast_enabled("cpu")
        and _library() is not None
    )
    if not fast:
        return F.conv2d(x, weight, None, stride, k // 2, 1, x.shape[1])
    return _DepthwiseConv2d.apply(x, weight, s)
