"""The Backprop page in network mode: the data, the stepper, the step buttons and the live part that plays.

The stepper (``lightning_module.backprop.stepper``) does every computation; this module keeps it in
``st.session_state`` and draws it. The live part is a fragment that reruns on a timer while playing.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.parts.backprop.inspector import default_pick, inspector, on_chart_pick
from dashboard.parts.backprop.tabs import VIEWS, show_view
from lightning_module.backprop import plots
from lightning_module.backprop.config import Config
from lightning_module.backprop.datasets import dataset_from_table
from lightning_module.backprop.diagnosis import diagnose
from lightning_module.backprop.presets import PRESETS
from lightning_module.backprop.stepper import StepError, Stepper, load_dataset

TICK_SECONDS = 0.8  # a slower machine must finish drawing the figures between ticks
state = st.session_state


def _dataset(config: Config):
    """The data for this config and an identity for it (so edits start a new network)."""
    if config.dataset == "csv":
        data = state.get("bp_csv")
        return data, ("csv", state.get("bp_csv_id"))
    base = load_dataset(config.dataset, config.seed)
    edited = state.bp_edited.get((config.dataset, config.seed))
    if edited is not None:
        return dataset_from_table(edited, name=base.name, test=base), ("edited", config.dataset, edited.to_json())
    return base, ("builtin", config.dataset, config.seed)


def _stepper(config: Config, data, data_key) -> Stepper:
    key = (config.structure_key(), data_key)
    if state.get("bp_stepper_key") != key:
        stepper, notes = Stepper.from_config(config, data)
        state.bp_stepper, state.bp_stepper_key, state.bp_notes = stepper, key, notes
        state.bp_playing = False
        default_pick(stepper)
    stepper = state.bp_stepper
    stepper.set_training(config.learning_rate, config.weight_decay, config.batch, config.batch_size)
    return stepper


def _act(action: str) -> None:
    """Button callbacks: run before the rerun, so the page draws the new state at once."""
    s: Stepper = state.bp_stepper
    state.bp_message = None
    try:
        if action == "forward":
            s.forward_one_layer()
        elif action == "backward":
            s.backward_one_layer()
        elif action == "update":
            s.apply_update()
        elif action == "step":
            s.whole_step()
        elif action == "reset":
            s.reset()
            state.bp_playing = False
            state.bp_full_rerun = True
        elif action == "play":
            state.bp_playing = not state.bp_playing
            state.bp_full_rerun = True  # run_every is set when the fragment is created: rerun the app
    except StepError as exc:
        state.bp_message = str(exc)


def _controls(s: Stepper) -> None:
    cols = st.columns(6)
    playing = state.bp_playing
    cols[0].button("Forward →", key="bp_forward", on_click=_act, args=("forward",), width="stretch",
                   disabled=not s.can_forward() or playing, help="Forward one layer: compute z and a of the next layer.")
    cols[1].button("← Backward", key="bp_backward", on_click=_act, args=("backward",), width="stretch",
                   disabled=not s.can_backward() or playing,
                   help="Backward one layer: compute δ, ∂C/∂W and ∂C/∂b of the next layer down.")
    cols[2].button("Apply ΔW", key="bp_update", on_click=_act, args=("update",), width="stretch",
                   disabled=not s.can_update() or playing, help="Apply the update W ← W − η ∂C/∂W to every layer.")
    cols[3].button("Whole step", key="bp_step", on_click=_act, args=("step",), disabled=playing, width="stretch",
                   help="Finish the current step: the rest of the forward pass, the backward pass and the update.")
    cols[4].button("⏸ Pause" if playing else "▶ Play", key="bp_play", on_click=_act, args=("play",),
                   type="primary", width="stretch", disabled=s.diverged_at is not None and not playing,
                   help="Train continuously, a few whole steps per tick.")
    cols[5].button("Reset", key="bp_reset", on_click=_act, args=("reset",), width="stretch",
                   help="Back to the initial weights and step 0.")


def play_tick(s: Stepper, steps: int) -> int:
    """What one timer tick does while playing: a few whole steps, stopping on divergence."""
    done = s.run(steps)
    if s.diverged_at is not None:
        state.bp_playing = False
        state.bp_full_rerun = True
    return done


def _status(s: Stepper) -> None:
    h = s.history
    parts = [f"step **{s.step}**", f"epoch **{s.epoch:.4g}**", f"train cost **{h.train_cost[-1]:.4g}**",
             f"train accuracy **{h.train_accuracy[-1]:.0%}**"]
    if np.isfinite(h.test_cost[-1]):
        parts += [f"test cost **{h.test_cost[-1]:.4g}**", f"test accuracy **{h.test_accuracy[-1]:.0%}**"]
    st.markdown(f"**{s.describe()}**  \n" + " · ".join(parts))


def _live(config: Config) -> None:
    """Everything that changes as the network trains: drawn again on every tick while playing."""
    s: Stepper = state.bp_stepper
    default_pick(s)
    if state.pop("bp_full_rerun", False):
        st.rerun()  # play/pause changes the fragment's timer, which needs an app rerun
    if state.bp_playing:
        play_tick(s, int(state.get("bp_steps_per_tick", 5)))
    _controls(s)
    if state.get("bp_message"):
        st.warning(state.bp_message)
    for note in diagnose(s):
        st.warning(note, icon="⚠️")
    _status(s)
    phase = "update" if s.phase == "ready" and s.current is not None and s.current.applied else s.phase
    if state.bp_playing:
        phase = "ready"  # every layer changes every tick: a highlight would only flicker
    selected = (("weight", state.bp_pick_layer, state.bp_pick_j, state.bp_pick_k)
                if state.bp_pick_kind == "weight" else ("neuron", state.bp_pick_layer, state.bp_pick_j))
    example = int(state.get("bp_pick_example", 1)) - 1
    fig = plots.network_figure(s.net, s.current, phase, s.layer, selected, example)
    st.plotly_chart(fig, key="bp_net_chart", on_select=on_chart_pick, selection_mode="points",
                    config={"displayModeBar": False})
    st.caption("Edge colour: sign of w (blue +, orange −); width: |w|. Node colour: a for the chosen example; "
               "a purple ring: δ is known. Click a neuron or a weight to inspect it.")
    inspector(s)
    view = st.segmented_control("View", VIEWS, key="bp_view", default=VIEWS[0], label_visibility="collapsed")
    show_view(view or VIEWS[0], config, s)


def network_mode(config: Config) -> None:
    """The network, trained step by step on the chosen data; the live part reruns on a timer while playing."""
    data, data_key = _dataset(config)
    if data is None:
        st.info("Upload a CSV in the sidebar: two numeric input columns and a class label column "
                "(named label/class/y/target, or the last column).")
        return
    try:
        _stepper(config, data, data_key)
    except ValueError as exc:
        st.error(str(exc))
        return
    for note in state.get("bp_notes", []):
        st.info(note)
    if config.preset:
        st.caption(PRESETS[config.preset].description)
    run_every = TICK_SECONDS if state.bp_playing else None
    st.fragment(_live, run_every=run_every)(config)
