"""The lab's baseline network: 5 convolutional layers, 2 hidden dense layers, 1 output layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SeedCNN(nn.Module):
    """Five 3x3 convolutions (the first with stride 2, the rest followed by 2x2 max-pooling), then two hidden
    dense layers and the output layer. At the lab's 108x108 input the last feature map is 3x3.

    Args:
        num_classes: outputs of the last layer.
        in_channels: 1 for grayscale, 3 for colour.
        image_size: side of the square input (any size from 32 px works).
        conv_widths: channels of the five convolutions.
        dense_widths: units of the two hidden dense layers.
        dropout: dropout before each dense layer.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        image_size: int = 108,
        conv_widths: Sequence[int] = (16, 32, 64, 64, 128),
        dense_widths: Sequence[int] = (128, 64),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if len(conv_widths) != 5 or len(dense_widths) != 2:
            raise ValueError("seed_cnn has exactly 5 convolution widths and 2 dense widths")
        layers: list[nn.Module] = []
        channels = in_channels
        for index, width in enumerate(conv_widths):
            stride = 2 if index == 0 else 1
            layers += [nn.Conv2d(channels, width, 3, stride=stride, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if index > 0:
                layers.append(nn.MaxPool2d(2))
            channels = width
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, image_size, image_size)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(flat, dense_widths[0]),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(dense_widths[0], dense_widths[1]),
            nn.ReLU(inplace=True),
            nn.Linear(dense_widths[1], num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
