"""Why a network is not learning, in words a student can act on."""

from __future__ import annotations

import numpy as np

from .stepper import Stepper


def diagnose(stepper: Stepper) -> list[str]:
    """Plain-language findings about the current network; empty when nothing looks wrong."""
    net, h = stepper.net, stepper.history
    notes: list[str] = []
    eta = stepper.learning_rate
    weights_bad = any(not np.all(np.isfinite(net.W[l])) for l in range(1, net.L + 1))
    if stepper.diverged_at is not None or weights_bad:
        at = stepper.diverged_at if stepper.diverged_at is not None else stepper.step
        notes.append(
            f"The network diverged: at step {at} the cost stopped being a number (NaN or ∞). "
            f"Each update W ← W − η ∂C/∂W overshot the minimum by more than it corrected, so the weights grew "
            f"every step until z = Wa + b overflowed. The learning rate η = {eta:g} is too large for this network "
            f"and data: press Reset and try η = {eta / 10:g}.")
        return notes
    costs = np.asarray(h.train_cost)
    if len(costs) >= 11:
        recent = costs[-10:]
        flips = int(np.sum(np.diff(np.sign(np.diff(recent))) != 0))
        if flips >= 6 and recent.mean() > 1.5 * costs.min():
            notes.append(
                f"The cost jumps up and down from step to step and stays well above its lowest value "
                f"({costs.min():.3g}): each step overshoots the valley floor and lands on the other side. "
                f"The learning rate η = {eta:g} is too large; try η = {eta / 10:g}.")
    if len(costs) >= 6:
        recent = costs[-5:]
        if np.all(np.diff(recent) > 0) and recent[-1] > 1.5 * costs.min():
            notes.append(
                f"The cost has risen for 5 steps in a row and is now {recent[-1] / costs.min():.1f}× its lowest "
                f"value: the steps are too long and jump across the valley. Lower η (now {eta:g}).")
    if costs[-1] < 0.05 and h.train_accuracy[-1] == 1.0:
        return notes  # it has learnt the data: saturation or dead units are not a problem to fix here
    with np.errstate(all="ignore"):
        z, a = net.forward(stepper.x_train)
    act = net.hidden
    saturated, dead, identical = [], [], []
    for l in range(1, net.L):
        if act in ("sigmoid", "tanh"):
            share = float(np.mean(np.abs(z[l]) > 4.0))
            if share > 0.5:
                saturated.append(f"layer {l}: {share:.0%}")
        if act == "relu":
            n_dead = int(np.sum(np.all(z[l] <= 0, axis=1)))
            if n_dead:
                dead.append(f"layer {l}: {n_dead} of {net.sizes[l]}")
        if net.sizes[l] > 1 and np.allclose(net.W[l], net.W[l][:1]) and np.allclose(net.b[l], net.b[l][:1]):
            identical.append(str(l))
    if saturated:
        notes.append(
            f"Saturated {act} neurons ({'; '.join(saturated)} of the values have |z| > 4, where f′(z) ≈ 0). "
            f"δ^l = (W^(l+1))ᵀδ^(l+1) ⊙ f′(z^l) is then tiny and those weights barely move: the vanishing "
            f"gradient. Smaller initial weights (Xavier), a smaller η or ReLU help.")
    if dead:
        notes.append(
            f"Dead ReLUs ({'; '.join(dead)} neurons output 0 for every training point). With f′(z) = 0 their δ "
            f"is 0, so their weights never change again. Leaky ReLU, He initialisation or a smaller η avoid this.")
    if identical:
        which = "layer " + identical[0] if len(identical) == 1 else "layers " + ", ".join(identical)
        notes.append(
            f"Every neuron of {which} has the same weights. They compute the same thing, receive the same δ and "
            f"the same update, so they stay identical however long you train: the symmetry problem of zero (or "
            f"constant) initialisation. Random initialisation breaks it.")
    if net.output == "sigmoid" and net.cost == "quadratic" and net.L >= 1:
        zL = z[net.L]
        wrong_and_stuck = np.mean((np.abs(zL) > 5) & (np.abs(a[net.L] - stepper.y_train) > 0.5))
        if wrong_and_stuck > 0.2:
            notes.append(
                f"{wrong_and_stuck:.0%} of the points get a confident, wrong sigmoid output. With the quadratic "
                f"cost δ^L = (a − y) σ′(z) and σ′(z) ≈ 0 there, so the network learns slowly exactly when it is "
                f"most wrong. Cross-entropy cancels σ′: δ^L = a − y.")
    return notes
