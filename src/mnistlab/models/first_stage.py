"""A one-channel CNN's first stage (3x3 convolution, 2x2 max pool, relu) as one native kernel on the CPU.

In the notebook CNN this stage was about a third of a training step: its 26x26x32 output, the
pool's int64 indices and the zero-filled gradient scattered through them stream through memory
several times a step, and oneDNN's weight gradient pays a fixed cost per image. The kernel
(native/first_stage.c) keeps only the pooled output and one byte per pooled value, and computes
in fp32 what autocast computed in bf16. Measured in docs/speed-notes.md.

``Network`` uses it where its first layers match (``fusable``) and ``usable`` holds for the batch;
otherwise, and on CUDA, the same layers run as torch modules. The parameters are the convolution's
own, so saved runs do not depend on which path trained them.
"""

from __future__ import annotations

import ctypes

import torch

from mnistlab.native import kernel

FILTERS = (16, 32, 48, 64)


def fusable(specs: list[dict], input_shape: tuple[int, ...]) -> bool:
    """Whether the network starts with conv2d (1 channel in, 3x3, stride 1, valid, relu) and a 2x2 max pool."""
    if len(specs) < 2 or input_shape[0] != 1 or min(input_shape[1:]) < 4:
        return False
    conv, pool = specs[0], specs[1]
    return (
        conv["type"] == "conv2d" and int(conv["filters"]) in FILTERS and int(conv["kernel_size"]) == 3
        and int(conv["strides"]) == 1 and conv["padding"] == "valid" and conv["activation"] == "relu"
        and pool["type"] == "maxpool2d" and int(pool["pool_size"]) == 2
    )


def _out_dtype() -> torch.dtype | None:
    """fp32, or bf16 under CPU bf16 autocast; None under any other autocast."""
    if not torch.is_autocast_enabled("cpu"):
        return torch.float32
    return torch.bfloat16 if torch.get_autocast_dtype("cpu") == torch.bfloat16 else None


def usable(x: torch.Tensor) -> bool:
    """Whether the kernel can run this batch: fp32 on the CPU, no input gradient, not traced for export."""
    return (
        x.device.type == "cpu" and x.dtype == torch.float32 and not x.requires_grad
        and not torch.compiler.is_compiling() and not torch.jit.is_tracing()
        and _out_dtype() is not None and _library() is not None
    )


def first_stage(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """relu(max_pool2d(conv(x), 2)) for a batch ``x`` (N, 1, H, W), channels-last output."""
    track = torch.is_grad_enabled() and (conv.weight.requires_grad or conv.bias.requires_grad)
    return _FirstStage.apply(x, conv.weight, conv.bias, _out_dtype(), track)


def _library() -> ctypes.CDLL | None:
    library = kernel("first_stage")
    if library is not None and library.first_stage_forward.argtypes is None:
        pointer, integer = ctypes.c_void_p, ctypes.c_int
        library.first_stage_forward.argtypes = [pointer] * 3 + [integer] * 4 + [pointer, integer, pointer]
        library.first_stage_backward.argtypes = [pointer, pointer, integer, pointer] + [integer] * 4 + [pointer] * 2
    return library


def _check(status: int, filters: int) -> None:
    if status != 0:
        raise RuntimeError(f"the native first stage takes {', '.join(map(str, FILTERS))} filters, not {filters}")


class _FirstStage(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, out_dtype, track):  # noqa: ANN001, ANN205 (autograd's signature)
        n, _, height, width = x.shape
        filters = weight.shape[0]
        image = x.contiguous()
        out = torch.empty(n, (height - 2) // 2, (width - 2) // 2, filters, dtype=out_dtype)
        winner = torch.empty(out.shape, dtype=torch.uint8) if track else None
        weight = weight.contiguous()  # held here: the kernel reads it after this line
        _check(_library().first_stage_forward(
            image.data_ptr(), weight.data_ptr(), bias.data_ptr(), n, height, width, filters,
            out.data_ptr(), int(out_dtype == torch.bfloat16), None if winner is None else winner.data_ptr(),
        ), filters)
        ctx.save_for_backward(image, winner)
        return out.permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        image, winner = ctx.saved_tensors
        n, _, height, width = image.shape
        filters = grad.shape[1]
        if grad.dtype not in (torch.float32, torch.bfloat16):
            grad = grad.float()
        grad = grad.permute(0, 2, 3, 1).contiguous()
        weight_grad, bias_grad = torch.zeros(filters, 1, 3, 3), torch.zeros(filters)
        _check(_library().first_stage_backward(
            image.data_ptr(), grad.data_ptr(), int(grad.dtype == torch.bfloat16), winner.data_ptr(), n, height, width,
            filters, weight_grad.data_ptr(), bias_grad.data_ptr(),
        ), filters)
        return None, weight_grad, bias_grad, None, None
