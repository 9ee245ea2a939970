"""The Backprop page's sidebar: the configuration's widgets, kept in step with the URL.

The configuration lives in the URL (a link reproduces it) and in the widgets; ``Config`` in
``lightning_module.backprop.config`` is the one description of it. Widget keys (``FIELDS``) are what the page's
tests and screenshot script drive, so they do not change.
"""

from __future__ import annotations

import streamlit as st

from lightning_module.backprop.activations import HIDDEN, OUTPUTS
from lightning_module.backprop.config import BATCH_MODES, DATA_CHOICES, MODES, Config, layers_to_text, parse_layers
from lightning_module.backprop.costs import COSTS, INCOMPATIBLE
from lightning_module.backprop.datasets import parse_csv
from lightning_module.backprop.network import INITIALISATIONS
from lightning_module.backprop.presets import PRESETS

# Widget keys of the configuration, by Config field.
FIELDS = {"mode": "bp_mode", "preset": "bp_preset", "hidden_layers": "bp_layers", "activation": "bp_act",
          "output": "bp_out", "cost": "bp_cost", "learning_rate": "bp_lr", "batch": "bp_batch",
          "batch_size": "bp_bs", "weight_decay": "bp_l2", "init": "bp_init", "epsilon": "bp_eps",
          "seed": "bp_seed", "dataset": "bp_data", "expression": "bp_expr", "values": "bp_vals"}
state = st.session_state


def _seed_widgets(config: Config) -> None:
    for name, key in FIELDS.items():
        value = getattr(config, name)
        state[key] = layers_to_text(value) if name == "hidden_layers" else value
    state.bp_values = {key: state[key] for key in FIELDS.values()}


def _restore_widgets() -> None:
    """Streamlit forgets the value of a widget that a run does not draw (the batch size outside
    mini-batch mode, every network control in graph mode); put the last value back before drawing."""
    for key, value in state.bp_values.items():
        if key not in state:
            state[key] = value


def _config_from_widgets() -> tuple[Config, list[str]]:
    errors = []
    state.bp_values = {key: state.get(key, state.bp_values[key]) for key in FIELDS.values()}
    values = {name: state.bp_values[key] for name, key in FIELDS.items()}
    try:
        values["hidden_layers"] = parse_layers(str(values["hidden_layers"]))
        state.bp_last_layers = values["hidden_layers"]
    except ValueError as exc:
        errors.append(f"Hidden layers: {exc} Keeping {layers_to_text(state.bp_last_layers)}.")
        values["hidden_layers"] = state.bp_last_layers
    values["batch_size"] = int(values["batch_size"])
    values["seed"] = int(values["seed"])
    return Config(**values), errors


def _apply_preset() -> None:
    """Choosing a preset is an explicit request: its network, data and η replace the current ones."""
    config, _ = _config_from_widgets()
    _seed_widgets(config.with_preset(state.bp_preset))


def init_session() -> None:
    if "bp_initialised" in state:
        return
    config, warnings = Config.from_query(st.query_params.to_dict())
    state.bp_last_layers = config.hidden_layers
    _seed_widgets(config)
    state.bp_url_warnings, state.bp_url_config = warnings, config
    state.bp_playing = False
    state.bp_edited = {}  # the user's edited point tables, per data set: switching away loses nothing
    state.bp_initialised = True


def sidebar() -> Config:
    sb = st.sidebar
    _restore_widgets()
    sb.radio("Mode", list(MODES), key="bp_mode", format_func=MODES.get, horizontal=True)
    if state.bp_mode == "graph":
        config, _ = _config_from_widgets()
        return config
    presets = ["", *PRESETS]
    sb.selectbox("Preset from the course notes", presets, key="bp_preset", on_change=_apply_preset,
                 format_func=lambda p: PRESETS[p].label if p else "none (your own network)")
    sb.selectbox("Data", list(DATA_CHOICES), key="bp_data", format_func=DATA_CHOICES.get)
    if state.bp_data == "csv":
        upload = sb.file_uploader("CSV with columns x1, x2, label", type=["csv", "txt"], key="bp_csv_file")
        if upload is not None and state.get("bp_csv_id") != upload.file_id:
            try:
                state.bp_csv = parse_csv(upload.getvalue(), seed=int(state.bp_seed))
                state.bp_csv_id = upload.file_id
            except ValueError as exc:
                sb.error(f"{upload.name}: {exc}")
    sb.text_input("Hidden layers (neurons per layer)", key="bp_layers",
                  help="Comma-separated, up to 6 layers of up to 16 neurons, e.g. 8,8. 'none' for no hidden layer.")
    sb.selectbox("Hidden activation", list(HIDDEN), key="bp_act", format_func=lambda k: HIDDEN[k].label)
    sb.selectbox("Output layer", list(OUTPUTS), key="bp_out", format_func=lambda k: OUTPUTS[k].label)
    allowed = [c for c in COSTS if (state.bp_out, c) not in INCOMPATIBLE]
    if state.bp_cost not in allowed:
        sb.info(f"{COSTS[state.bp_cost].label.capitalize()} does not fit a {state.bp_out} output: "
                f"{INCOMPATIBLE[(state.bp_out, state.bp_cost)]} Switched to {COSTS[allowed[0]].label}.")
        state.bp_cost = allowed[0]
    sb.selectbox("Cost", allowed, key="bp_cost", format_func=lambda k: COSTS[k].label)
    sb.number_input("Learning rate η", min_value=1e-6, max_value=100.0, step=0.01, format="%g", key="bp_lr")
    sb.radio("Batch", list(BATCH_MODES), key="bp_batch", format_func=BATCH_MODES.get)
    if state.bp_batch == "mini":
        sb.number_input("Mini-batch size", min_value=1, max_value=5000, step=1, key="bp_bs")
    sb.number_input("L2 weight decay λ", min_value=0.0, max_value=10.0, step=0.001, format="%g", key="bp_l2",
                    help="Adds (λ/2)·Σ‖W‖² to the cost and λW to ∂C/∂W. Biases are not decayed.")
    sb.selectbox("Initialisation", list(INITIALISATIONS), key="bp_init", format_func=INITIALISATIONS.get)
    if state.bp_init == "small_normal":
        sb.number_input("ε (standard deviation)", min_value=1e-6, max_value=10.0, step=0.01, format="%g",
                        key="bp_eps")
    sb.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="bp_seed")
    sb.slider("Steps per tick when playing", 1, 50, key="bp_steps_per_tick", value=5)
    config, errors = _config_from_widgets()
    for e in errors:
        sb.error(e)
    sb.caption("η, λ and the batch mode apply from the next step; any other change starts a new network.")
    return config


def sync_url(config: Config) -> None:
    wanted = config.to_query()
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
