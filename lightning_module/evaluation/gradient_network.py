"""A copy of a predictor's network made for taking input gradients fast: batch norms folded, activations in place.

The per-pixel explanation methods (saliency, SmoothGrad, Integrated Gradients) and occlusion only need the
network's output and its gradient with respect to the input, never a layer's activations. In eval mode a batch norm
is a per-channel scale and shift, so folding it into the convolution before it gives the same function with two
passes over memory fewer per layer, forward and backward; and with no hooks on the copy its ReLUs may stay in place.
For the bundled seed_cnn this halves SmoothGrad's 16 forward and backward passes (45 -> 25 ms on one CPU thread).

On a CPU the copy's convolutions are also swapped for plain ones that compute the same function faster
(:func:`faster_convolutions`): EfficientNet-Lite's symmetric "same" padding goes into the convolution itself instead
of a padded copy of every input, and each 1x1 convolution is steered to oneDNN for batches of 2 to 15. PyTorch
computes those on one thread with its own im2col kernel (``use_mkldnn`` in ATen's Convolution.cpp: "THNN is faster
when single-threaded"), which for EfficientNet-Lite0's 32 pointwise convolutions at batch 8 measured 1.5x slower,
forward and backward, than oneDNN; a dilation, which means nothing to a 1x1 kernel, selects oneDNN. Together they
take SmoothGrad's 16 passes on the default model from ~180 to ~110 ms of CPU here; one photo at a time (batch 1)
stays on PyTorch's kernel, which is faster there.

The copy is traced with ``torch.fx``; a body that cannot be traced (data-dependent control flow) is copied as it
is, which still keeps in-place activations. Folding is exact up to float rounding (~1e-6 of a logit). The copy is
remade whenever any parameter or buffer of the network has changed or moved since (each in-place write bumps a
tensor's version counter: ``optimizer.step``, ``load_state_dict``, setting the operating point).
"""

from __future__ import annotations

import copy
import threading
import weakref

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = ["faster_convolutions", "fold_batch_norms", "gradient_network"]

# network -> (the versions of its tensors when copied, the copy)
_COPIES: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[tuple[int, int], ...], nn.Module]] = weakref.WeakKeyDictionary()
_COPYING = threading.Lock()


class _ConvolutionsAsLeaves(fx.Tracer):
    """Keeps every ``nn.Conv2d`` subclass (EfficientNet-Lite's same-padding convolution) one node to fold into."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, nn.Conv2d) or super().is_leaf_module(module, qualified_name)


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """An eval-mode copy of ``module`` with each batch norm that only follows a convolution folded into it.

    Raises whatever ``torch.fx`` raises for a module it cannot trace; ``module`` itself is never changed.
    """
    module = copy.deepcopy(module).eval()
    graph = _ConvolutionsAsLeaves().trace(module)
    traced = fx.GraphModule(module, graph)
    modules = dict(traced.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    for node in list(graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], nn.BatchNorm2d):
            continue
        source = node.args[0]
        if not (isinstance(source, fx.Node) and source.op == "call_module"
                and isinstance(modules[source.target], nn.Conv2d)):
            continue
        conv, norm = modules[source.target], modules[node.target]
        # Only when the convolution's output goes nowhere else and the convolution runs once: otherwise the
        # folded weights would change what its other users see.
        if len(source.users) != 1 or calls[source.target] != 1 or norm.running_mean is None:
            continue
        assert isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
        conv.weight, conv.bias = fuse_conv_bn_weights(
            conv.weight, conv.bias, norm.running_mean, norm.running_var, norm.eps, norm.weight, norm.bias
        )
        node.replace_all_uses_with(source)
        graph.erase_node(node)
    graph.lint()
    traced.recompile()
    traced.delete_all_unused_submodules()  # the folded batch norms
    return traced


class PointwiseConvolution(nn.Conv2d):
    """A 1x1, stride-1, unpadded, ungrouped convolution that runs on oneDNN for batches of more than one photo."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        # A 1x1 kernel reads one pixel whatever the dilation: dilation 2 only makes PyTorch choose oneDNN.
        return F.conv2d(inputs, self.weight, self.bias, 1, 0, 2 if inputs.shape[0] > 1 else 1, 1)


def faster_convolutions(module: nn.Module) -> int:
    """Swap, in place, each convolution of ``module`` that has a faster plain equivalent on a CPU; returns how many.

    A convolution with symmetric zero padding done by a padding module in front (EfficientNet-Lite's
    ``Conv2dStaticSamePadding``) becomes an ``nn.Conv2d`` padding by itself; a 1x1 one becomes a
    :class:`PointwiseConvolution`. Weights are shared, not copied; anything else is left as it is.
    """
    swapped = 0
    for name, conv in list(module.named_modules()):
        padding = _plain_padding(conv)
        if padding is None:
            continue
        pointwise = (conv.kernel_size == (1, 1) and tuple(conv.stride) == (1, 1) and padding == (0, 0)
                     and conv.dilation == (1, 1) and conv.groups == 1)
        if not pointwise and type(conv) is nn.Conv2d:
            continue  # already plain
        kind = PointwiseConvolution if pointwise else nn.Conv2d
        plain = kind(conv.in_channels, conv.out_channels, conv.kernel_size, tuple(conv.stride), padding,
                     conv.dilation, conv.groups, conv.bias is not None)
        plain.weight, plain.bias = conv.weight, conv.bias
        parent, _, child = name.rpartition(".")
        setattr(module.get_submodule(parent), child, plain)
        swapped += 1
    return swapped


def _plain_padding(conv: nn.Module) -> tuple[int, int] | None:
    """The (height, width) zero padding ``conv`` applies, when an ``nn.Conv2d`` could apply it alone; else None."""
    if not isinstance(conv, nn.Conv2d) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return None
    if type(conv) is nn.Conv2d:
        return tuple(conv.padding)  # type: ignore[return-value]
    # EfficientNet-Lite's same-padding convolution: a ZeroPad2d (or an Identity) in front of F.conv2d.
    if type(conv).__name__ != "Conv2dStaticSamePadding" or tuple(conv.padding) != (0, 0):
        return None
    pad = getattr(conv, "static_padding", None)
    if type(pad).__name__ == "Identity" and not list(pad.parameters()):
        return (0, 0)
    if isinstance(pad, nn.ZeroPad2d):
        left, right, top, bottom = pad.padding
        if left == right and top == bottom:
            return (top, left)
    return None  # asymmetric (stride 2 on an even size): a convolution's own padding is symmetric


def gradient_network(network: nn.Module) -> nn.Module:
    """The folded, in-place copy of ``network`` for input gradients (made once per state of its weights).

    ``network`` is a ``TreeRiskNetwork`` (its ``body`` is folded; the input conversion in front is kept) or any
    module (folded whole). Parameters of the copy do not require gradients: only the input's are ever taken.
    """
    # Where each tensor lives and how often it was written: ``.to(device)`` moves it, any in-place write bumps it.
    versions = tuple((t.data_ptr(), t._version) for t in (*network.parameters(), *network.buffers()))
    with _COPYING:
        cached = _COPIES.get(network)
        if cached is not None and cached[0] == versions:
            return cached[1]
        body_name = "body" if isinstance(getattr(network, "body", None), nn.Module) else None
        # Copies made under inference mode would be inference tensors, which autograd cannot take gradients through.
        with torch.inference_mode(False):
            made = _copy(network, body_name)
        if all(t.device.type == "cpu" for t in made.parameters()):  # oneDNN is a CPU library
            faster_convolutions(made)
        made.eval().requires_grad_(False)
        _COPIES[network] = (versions, made)
        return made


def _copy(network: nn.Module, body_name: str | None) -> nn.Module:
    try:
        if body_name is None:
            return fold_batch_norms(network)
        made = copy.deepcopy(network)
        setattr(made, body_name, fold_batch_norms(getattr(network, body_name)))
        return made
    except Exception:  # not traceable: the copy still runs its activations in place
        return copy.deepcopy(network)
