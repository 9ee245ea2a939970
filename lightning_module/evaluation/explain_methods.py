"""The ways of explaining a prediction, by name: each turns one photo and one class into a heatmap.

Contract: every entry of :data:`EXPLANATION_METHODS` is called with the predictor, the photo as a (1, C, H, W)
float tensor in [0, 1] (what the network takes besides uint8) and the index of the class to explain, and returns
``(evidence, layer)``: an (H, W) non-negative float tensor at the model input's resolution, higher meaning stronger,
and the name of the layer it explains (``"input"`` for per-pixel methods). For Grad-CAM and occlusion the evidence
is *for* the class (what lowers its score is cut at zero); the per-pixel gradient methods give the magnitude of a
pixel's influence on the score, either way, blurred a little, because their signs flip from pixel to pixel.
Scaling to [0, 1] and the "flat" verdict belong to the caller, :func:`lightning_module.evaluation.explain.explain`,
so every method is judged alike. Methods marked ``hooks`` put captum's hooks on the shared network: the caller holds
the lock and switches in-place activations off (:func:`out_of_place`) for the call. The others (occlusion and the
per-pixel gradient methods) need only the network's output and input gradient, and run on its
:func:`~lightning_module.evaluation.gradient_network.gradient_network` copy (batch norms folded, activations in
place): the same function at about half the cost.

Why several: Grad-CAM at the last convolution costs one backward pass but is coarse (the bundled seed_cnn's last
map is 6x6 for a 108-px input, so its peak can only say which sixth of the crop), and on the synthetic pointing
game its peak lands in a defect box no more often than the crop's centre does (``bench/explanation_pointing.py``).
Earlier layers are finer, occlusion asks the model directly what hiding a region does, and the gradient methods
(saliency, SmoothGrad, Integrated Gradients, Guided Grad-CAM) work per pixel. Which one points at defects best
depends on the model, so the bench compares them all and the page's default is one constant,
``DEFAULT_EXPLANATION_METHOD`` in ``explain.py``.

Layers are picked per backbone without a table: the *stages* are the last convolution at each spatial resolution
(found with one hooked forward pass at the model's input size), ordered from the coarsest. Grad-CAM's "last layer"
stays the predictor's last convolution; "middle" and "early" are the stages one and two resolutions finer. GoogLeNet
and Inception v3 are the exception: their convolutions sit inside single branches of concatenating blocks and see
only part of the channels, so their stages are whole blocks, as in the Grad-CAM paper.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lightning_module.evaluation.gradient_network import gradient_network
from lightning_module.evaluation.predictor import Predictor
from lightning_module.threads import process_pool

# Concatenating backbones: explain whole blocks, coarsest first (the first is Grad-CAM's "last layer").
_BLOCK_STAGES: dict[str, tuple[str, ...]] = {
    "googlenet": ("body.inception5b", "body.inception4e", "body.inception3b"),
    "inception_v3": ("body.Mixed_7c", "body.Mixed_6e", "body.Mixed_5d"),
}

# Per-pixel maps peak on single pixels, and a defect is a region: blur with a Gaussian whose sigma is this share of
# the input side (3.4 px at 108 px, about 15 photo pixels on a 480-px crop), well under the median defect box
# (about 70 x 100 photo pixels on the synthetic scenes).
BLUR_SIGMA_SHARE = 1 / 32
# Occlusion hides a square a sixth of the input side (a defect-sized patch), moved by half its side: 11 x 11
# positions at any input size, so its cost is the same ~121 forward passes for every model.
OCCLUSION_WINDOW_SHARE = 1 / 6
OCCLUSION_BATCH = 32  # forward passes per batch: bounded memory for big models, few calls for small ones
# Integrated Gradients: 16 steps from a plain image of the photo's mean colour. A black baseline (the usual one)
# gives dark pixels no attribution at all, and cavities and cracks are dark (on a development set of seed 77 it
# pointed at a defect 49 % of the time against 59 % for the mean colour). 8, 16 and 32 steps pointed equally well
# there; 16 keeps the attributions close to complete for deeper networks at half the cost of 32.
IG_STEPS = 16
# SmoothGrad: 16 noisy copies, noise 15 % of the [0, 1] range (the SmoothGrad paper's 10-20 %).
SMOOTHGRAD_SAMPLES = 16
SMOOTHGRAD_NOISE = 0.15
# SmoothGrad's noisy copies are split into at most this many parts run at once, on cores torch leaves idle.
MAX_PARTS = 4

Attribute = Callable[[Predictor, torch.Tensor, int], tuple[torch.Tensor, str]]


@dataclass(frozen=True)
class ExplanationMethod:
    """One way of explaining: its name in code and on the command line, its label on screen, and how it works."""

    name: str
    label: str  # short, for a selectbox and a caption ("Occlusion")
    summary: str  # one sentence a user can read: what red means for this method
    attribute: Attribute
    hooks: bool = False  # puts hooks on the network's layers (needs its activations out of place for the call)


# ---------------------------------------------------------------------------------------------------------- layers

_STAGES: weakref.WeakKeyDictionary[nn.Module, list[tuple[str, nn.Module]]] = weakref.WeakKeyDictionary()


def stage_layers(predictor: Predictor, inputs: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """``(name, layer)`` of each resolution stage's last convolution, coarsest first (computed once per network)."""
    network = predictor.network
    blocks = _BLOCK_STAGES.get(predictor.backbone)
    if blocks is not None:
        return [(name, network.get_submodule(name)) for name in blocks]
    stages = _STAGES.get(network)
    if stages is None:
        stages = _STAGES[network] = _last_conv_per_resolution(network, inputs)
    return stages


def _last_conv_per_resolution(network: nn.Module, inputs: torch.Tensor) -> list[tuple[str, nn.Module]]:
    seen: dict[tuple[int, int], tuple[str, nn.Module]] = {}  # output (h, w) -> last convolution run at it
    names = {module: name for name, module in network.named_modules()}

    def record(module: nn.Module, _args: object, output: torch.Tensor) -> None:
        seen[tuple(output.shape[-2:])] = (names[module], module)  # execution order: a later one replaces

    hooks = [m.register_forward_hook(record) for m in network.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            network(inputs[:1])
    finally:
        for hook in hooks:
            hook.remove()
    if not seen:
        raise ValueError("network has no convolution layer to explain")
    return [seen[size] for size in sorted(seen, key=lambda hw: hw[0] * hw[1])]


def explained_layer(predictor: Predictor) -> tuple[str, nn.Module]:
    """``(name, module)`` of the layer Grad-CAM's "last layer" explains for this predictor's backbone."""
    network = predictor.network
    blocks = _BLOCK_STAGES.get(predictor.backbone)
    if blocks is not None:
        return blocks[0], network.get_submodule(blocks[0])
    layer = predictor.explained_layer
    found = next((n for n, m in network.named_modules() if m is layer), type(layer).__name__)
    return found, layer


def finer_stage(predictor: Predictor, inputs: torch.Tensor, steps: int) -> tuple[str, nn.Module]:
    """The stage ``steps`` resolutions finer than Grad-CAM's last layer (the finest there is, for a shallow net)."""
    stages = stage_layers(predictor, inputs)
    _, last = explained_layer(predictor)
    start = next((i for i, (_, layer) in enumerate(stages) if layer is last), 0)
    return stages[min(start + steps, len(stages) - 1)]


# --------------------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def out_of_place(network: nn.Module) -> Iterator[None]:
    """In-place activations switched off for one call: captum's backward hooks on a ReLU fail when it works in place."""
    switched = [m for m in network.modules() if getattr(m, "inplace", False) is True]
    for module in switched:
        module.inplace = False  # type: ignore[assignment]
    try:
        yield
    finally:
        for module in switched:
            module.inplace = True  # type: ignore[assignment]


def blurred(evidence: torch.Tensor) -> torch.Tensor:
    """``evidence`` (H, W) smoothed by a Gaussian of sigma ``BLUR_SIGMA_SHARE`` x the side, edges replicated."""
    sigma = max(1.0, evidence.shape[-1] * BLUR_SIGMA_SHARE)
    radius = int(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=evidence.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    image = F.pad(evidence[None, None].float(), (radius,) * 4, mode="replicate")
    image = F.conv2d(F.conv2d(image, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    return image[0, 0]


def _mean_colour(inputs: torch.Tensor) -> torch.Tensor:
    """A plain image of the photo's mean colour: the "nothing here" that occlusion and IG compare with."""
    return inputs.mean(dim=(2, 3), keepdim=True).expand_as(inputs).contiguous()


def _magnitude(attribution: torch.Tensor) -> torch.Tensor:
    """(1, C, H, W) signed per-pixel attribution -> (H, W) blurred magnitude summed over channels."""
    return blurred(attribution.detach()[0].abs().sum(dim=0))


# --------------------------------------------------------------------------------------------------------- methods


def _gradcam(steps: int) -> Attribute:
    def attribute(predictor: Predictor, inputs: torch.Tensor, target: int) -> tuple[torch.Tensor, str]:
        from captum.attr import LayerAttribution, LayerGradCam

        name, layer = explained_layer(predictor) if steps == 0 else finer_stage(predictor, inputs, steps)
        cam = LayerGradCam(predictor.network, layer).attribute(inputs, target=target, relu_attributions=True)
        cam = LayerAttribution.interpolate(cam.detach().float(), tuple(inputs.shape[-2:]), interpolate_mode="bilinear")
        return cam[0].sum(dim=0).clamp_min(0), name

    return attribute


def _guided_gradcam(predictor: Predictor, inputs: torch.Tensor, target: int) -> tuple[torch.Tensor, str]:
    from captum.attr import GuidedGradCam

    name, layer = explained_layer(predictor)
    with warnings.catch_warnings():  # captum announces the ReLU hooks it sets for this call on every call
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        attribution = GuidedGradCam(predictor.network, layer).attribute(inputs, target=target)
    return _magnitude(attribution), name


def _occlusion(predictor: Predictor, inputs: torch.Tensor, target: int) -> tuple[torch.Tensor, str]:
    from captum.attr import Occlusion

    channels, side = inputs.shape[1], inputs.shape[-1]
    window = max(2, round(side * OCCLUSION_WINDOW_SHARE))
    stride = max(1, window // 2)
    attribution = Occlusion(gradient_network(predictor.network)).attribute(
        inputs, sliding_window_shapes=(channels, window, window), strides=(channels, stride, stride),
        baselines=_mean_colour(inputs), target=target, perturbations_per_eval=OCCLUSION_BATCH,
    )
    # Positive: hiding the region lowers the class score, so the region is evidence for the class.
    return attribution.detach()[0].sum(dim=0).clamp_min(0), "input"


def _integrated_gradients(predictor: Predictor, inputs: torch.Tensor, target: int) -> tuple[torch.Tensor, str]:
    from captum.attr import IntegratedGradients

    attribution = IntegratedGradients(gradient_network(predictor.network)).attribute(
        inputs, baselines=_mean_colour(inputs), target=target, n_steps=IG_STEPS, internal_batch_size=IG_STEPS
    )
    return _magnitude(attribution), "input"


def _saliency(predictor: Predictor, inputs: torch.Tensor, target: int) -> tuple[torch.Tensor, str]:
    from captum.attr import Saliency

    return _magnitude(Saliency(gradient_network(predictor.network)).attribute(inputs, target=target)), "input"


def _smoothgrad(predictor: Predictor, inputs: torch.Tensor, target: int) -> tuple[torch.Tensor, str]:
    from captum.attr import Saliency

    network = gradient_network(predictor.network)
    # The noise captum's NoiseTunnel draws for the same seed (tests/test_gradient_network.py checks the heatmap is
    # NoiseTunnel's), from a fixed seed without touching the caller's random state: the same photo always gets the
    # same heatmap. NoiseTunnel runs its batches one after another; here the noisy copies are split over the cores
    # torch leaves idle (the dashboard runs torch on one thread): a third off the explanation when the second core
    # is really free, a few per cent when the host gives it little (docs/BENCHMARKS.md).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        noise = torch.normal(0.0, SMOOTHGRAD_NOISE, size=(SMOOTHGRAD_SAMPLES, *inputs.shape[1:]))
    noisy = inputs.detach() + noise.to(inputs.device)

    def gradient_sum(part: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():  # grad mode is per thread
            return Saliency(network).attribute(part.requires_grad_(), target=target).sum(dim=0, keepdim=True)

    parts = noisy.chunk(_idle_cores(inputs))
    sums = [gradient_sum(parts[0])] if len(parts) == 1 else list(process_pool("explain").map(gradient_sum, parts))
    return _magnitude(torch.stack(sums).sum(dim=0) / SMOOTHGRAD_SAMPLES), "input"


def _idle_cores(inputs: torch.Tensor) -> int:
    """How many parts to split a CPU batch into: the cores torch's own threads leave idle (up to 4; 1 on a GPU)."""
    if inputs.device.type != "cpu":
        return 1
    return max(1, min(MAX_PARTS, (os.cpu_count() or 1) // max(1, torch.get_num_threads())))


_METHODS = (
    ExplanationMethod("gradcam", "Grad-CAM, last layer",
                      "red marks the regions whose features raised the score most, at the network's coarsest layer",
                      _gradcam(0), hooks=True),
    ExplanationMethod("gradcam_middle", "Grad-CAM, middle layer",
                      "Grad-CAM one resolution stage earlier: finer regions, less abstract features", _gradcam(1),
                      hooks=True),
    ExplanationMethod("gradcam_early", "Grad-CAM, early layer",
                      "Grad-CAM two resolution stages earlier: finer still, closer to edges and texture", _gradcam(2),
                      hooks=True),
    ExplanationMethod("guided_gradcam", "Guided Grad-CAM",
                      "last-layer Grad-CAM sharpened by guided backpropagation to the pixels inside it",
                      _guided_gradcam, hooks=True),
    ExplanationMethod("occlusion", "Occlusion",
                      "red marks the patches whose hiding lowered the score most", _occlusion),
    ExplanationMethod("integrated_gradients", "Integrated Gradients",
                      "red marks the pixels that account for most of the score's difference from a plain image",
                      _integrated_gradients),
    ExplanationMethod("saliency", "Gradient (saliency)",
                      "red marks the pixels whose change would move the score most; one backward pass", _saliency),
    ExplanationMethod("smoothgrad", "SmoothGrad",
                      "red marks the pixels the score is most sensitive to, averaged over noisy copies", _smoothgrad),
)

EXPLANATION_METHODS: dict[str, ExplanationMethod] = {method.name: method for method in _METHODS}


def explanation_method(name: str) -> ExplanationMethod:
    """The registered method called ``name``; ``ValueError`` naming the choices for anything else."""
    try:
        return EXPLANATION_METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown explanation method {name!r}; choose one of {', '.join(EXPLANATION_METHODS)}"
        ) from None
