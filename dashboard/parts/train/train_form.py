"""The Train page's choices, turned into a :class:`TrainingRequest`."""

from __future__ import annotations

import os

import streamlit as st

from lightning_module.data.categories import SCENARIOS
from lightning_module.models.backbones import BACKBONE_NAMES, BACKBONES, MAX_IMAGE_SIZE
from lightning_module.runs.launcher import TrainingRequest, gpu_count

DATA_KINDS = {"synthetic": "Built-in synthetic", "folder": "Folder of class folders", "manifest": "Manifest (.csv)"}
IMAGE_SIZES = [64, 108, 128, 224]
OTHER = "other…"


def scenario_text(name: str) -> str:
    if name == "all":
        return "every class found in the data"
    return " · ".join(SCENARIOS[name])


def training_choices() -> TrainingRequest:
    """Draws the choices (grouped: data, model, training) and returns what they ask for."""
    data, model, training = st.columns(3, gap="large")
    with data:
        st.markdown("##### Data")
        kind = st.radio("Photos", list(DATA_KINDS), format_func=DATA_KINDS.get, key="data_kind")
        path, size = "", 458
        if kind == "synthetic":
            size = st.number_input(
                "Number of synthetic photos", min_value=10, max_value=20_000, value=458, step=50, key="synthetic_size",
                help="Generated on first use into data/, then reused.",
            )
        elif kind == "folder":
            path = st.text_input(
                "Folder", key="data_folder", placeholder="/path/to/photos",
                help="One sub-folder per class, named after it: Improbable/, Possible/, Probable/, Imminent/.",
            )
        else:
            path = st.text_input(
                "Manifest", key="data_manifest", placeholder="/path/to/manifest.csv",
                help="A CSV with columns path,label[,group]; relative paths are relative to the manifest.",
            )
        scenario = st.selectbox(
            "Scenario", [*SCENARIOS, "all"], index=3, key="scenario",
            help="Which classes the model learns to tell apart; merged classes are joined with '+'.",
        )
        st.caption(f"Tells apart: {scenario_text(scenario)}")
    with model:
        st.markdown("##### Model")
        backbone = st.selectbox("Backbone", BACKBONE_NAMES, key="backbone")
        imagenet_possible = BACKBONES[backbone].imagenet is not None
        pretrained = st.radio(
            "Start from", ["none", "imagenet"], horizontal=True, key="pretrained",
            format_func={"none": "random weights", "imagenet": "ImageNet weights"}.get,
            disabled=not imagenet_possible,
            help=None if imagenet_possible else f"{backbone} has no ImageNet weights; it starts from random weights.",
        )
        pretrained = pretrained if imagenet_possible else "none"
        size_choice = st.selectbox("Image size (pixels)", [*IMAGE_SIZES, OTHER], index=1, key="image_size_choice")
        if size_choice == OTHER:
            # The smallest any backbone takes; a size too small for the chosen one is refused, naming its minimum.
            smallest = min(entry.min_image_size for entry in BACKBONES.values())
            image_size = st.number_input(
                "Other image size", min_value=smallest, max_value=MAX_IMAGE_SIZE, value=96, step=8,
                key="image_size_other",
            )
        else:
            image_size = size_choice
        color_mode = st.radio("Colour", ["grayscale", "rgb"], horizontal=True, key="color_mode")
    with training:
        st.markdown("##### Training")
        epochs = st.number_input("Epochs", min_value=1, max_value=1000, value=20, key="epochs")
        batch_size = st.number_input("Batch size", min_value=1, max_value=1024, value=32, key="batch_size")
        lr = st.number_input("Learning rate", min_value=1e-6, max_value=1.0, value=1e-3, step=1e-4, format="%.5f", key="lr")
        gpus = gpu_count()
        hardware = st.radio(
            "Hardware", ["cpu", "gpu"] if gpus else ["cpu"], horizontal=True, key="hardware",
            format_func={"cpu": "CPU", "gpu": f"GPU ({gpus} available)"}.get,
        )
        most = gpus if hardware == "gpu" else max(1, os.cpu_count() or 1)
        devices = st.number_input(
            "GPUs" if hardware == "gpu" else "CPU processes", min_value=1, max_value=most, value=1, key="devices",
            help="More than one trains with distributed data parallel (one process each).",
        )
        default_name = f"{scenario}-{backbone}"
        name = st.text_input("Run name", key="run_name", placeholder=default_name, help="Runs with the same name are numbered version_0, version_1, …")
    return TrainingRequest(
        run_name=name.strip() or default_name,
        data_kind=kind,
        data_path=path,
        synthetic_size=int(size),
        scenario=scenario,
        backbone=backbone,
        pretrained=pretrained,
        image_size=int(image_size),
        color_mode=color_mode,
        max_epochs=int(epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        accelerator=hardware,
        devices=int(devices),
    )
