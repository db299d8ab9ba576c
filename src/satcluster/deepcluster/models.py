"""DeepCluster convnets: VGG16-BN and AlexNet as in the reference code, plus a small CPU net.

Every model is ``sobel -> features -> pool -> classifier -> ReLU -> top_layer``.
``embed`` stops before that last ReLU: those are the features DeepCluster
clusters (fc7 before its ReLU for VGG16 and AlexNet). Module names match the
reference implementation so that its checkpoints load (``features.*``,
``classifier.*``, ``sobel.*``, ``top_layer.*``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from satcluster.deepcluster.settings import ARCHS

__all__ = ["ARCHS", "DeepClusterNet", "build_model", "make_sobel", "reset_head"]


VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
# AlexNet (2012) convs: (out channels, kernel, stride, padding), "M" = 3x3/2 max-pool.
ALEXNET_CFG = [(96, 11, 4, 2), "M", (256, 5, 1, 2), "M", (384, 3, 1, 1), (384, 3, 1, 1)]
ALEXNET_CFG += [(256, 3, 1, 1), "M"]
# Small net for CPU runs: four 3x3 conv-BN-ReLU blocks, global average pooling, two FC layers.
SMALL_WIDTHS = (16, 32, 64, 128)
SMALL_FC = 256
LINEAR_STD = 0.01
REFERENCE_WIDTH = 4096
SOBEL_X = [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]
SOBEL_Y = [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]


class DeepClusterNet(nn.Module):
    """A convnet with a Sobel front end (optional) and a re-initialisable linear head."""

    def __init__(
        self,
        features: nn.Sequential,
        pool: nn.Module,
        classifier: nn.Sequential,
        feature_dim: int,
        num_classes: int,
        sobel: bool,
        scale_linear_init: bool = False,
    ) -> None:
        super().__init__()
        self.features = features
        self.pool = pool  # no parameters: keeps the reference state-dict keys
        self.classifier = classifier
        self.top_layer = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim
        self.scale_linear_init = scale_linear_init
        _initialize_weights(self)
        self.sobel = make_sobel() if sobel else None

    def linear_std(self, fan_in: int) -> float:
        """Init std of linear layers: the reference's 0.01, or its gain at 4096 inputs if scaled.

        N(0, 0.01) suits the reference's 4096-wide layers; in the small net's
        256-wide layers it would shrink the signal ~4x per layer and the head
        would barely learn in an epoch of a few dozen batches.
        """
        if self.scale_linear_init:
            return LINEAR_STD * math.sqrt(REFERENCE_WIDTH / fan_in)
        return LINEAR_STD

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features clustered by DeepCluster: the last classifier layer's output, before ReLU."""
        if self.sobel is not None:
            x = self.sobel(x)
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top_layer(torch.relu(self.embed(x)))


def make_sobel() -> nn.Sequential:
    """Frozen RGB -> grey (1x1 conv, weights 1/3) then Sobel x/y (3x3 conv): 2 channels."""
    grayscale = nn.Conv2d(3, 1, kernel_size=1, stride=1, padding=0)
    sobel_filter = nn.Conv2d(1, 2, kernel_size=3, stride=1, padding=1)
    with torch.no_grad():
        grayscale.weight.fill_(1.0 / 3.0)
        grayscale.bias.zero_()
        sobel_filter.weight[0, 0].copy_(torch.tensor(SOBEL_X))
        sobel_filter.weight[1, 0].copy_(torch.tensor(SOBEL_Y))
        sobel_filter.bias.zero_()
    sobel = nn.Sequential(grayscale, sobel_filter)
    for p in sobel.parameters():
        p.requires_grad = False
    return sobel


def build_model(arch: str, sobel: bool, num_classes: int) -> DeepClusterNet:
    """Build ``arch`` (vgg16, alexnet or small) with a ``num_classes`` head."""
    in_channels = 2 if sobel else 3
    if arch == "vgg16":
        features = _vgg_features(in_channels)
        pool = nn.AdaptiveAvgPool2d((7, 7))  # identity at 224 px; lets other sizes work
        classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(4096, 4096)
        )
        dim = 4096
    elif arch == "alexnet":
        features = _alexnet_features(in_channels)
        pool = nn.AdaptiveAvgPool2d((6, 6))  # identity at 224 px
        classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
        )
        dim = 4096
    elif arch == "small":
        features = _small_features(in_channels)
        pool = nn.AdaptiveAvgPool2d(1)
        classifier = nn.Sequential(
            nn.Linear(SMALL_WIDTHS[-1], SMALL_FC),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(SMALL_FC, SMALL_FC),
        )
        dim = SMALL_FC
    else:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return DeepClusterNet(
        features, pool, classifier, dim, num_classes, sobel, scale_linear_init=arch == "small"
    )


@torch.no_grad()
def reset_head(model: DeepClusterNet, num_classes: int, generator: torch.Generator) -> bool:
    """Fresh head weights N(0, 0.01) (see ``linear_std``), bias 0, same on every rank.

    Re-initialises in place when the size is unchanged, so a DDP wrapper and its
    parameter list stay valid. Returns True when the head had to be replaced
    (PIC: the number of clusters changed), in which case DDP must be re-wrapped.
    """
    head = model.top_layer
    replaced = head.out_features != num_classes
    if replaced:
        model.top_layer = head = nn.Linear(head.in_features, num_classes).to(head.weight.device)
    std = model.linear_std(head.in_features)
    weight = torch.empty(head.weight.shape).normal_(0.0, std, generator=generator)
    head.weight.copy_(weight)
    head.bias.zero_()
    return replaced


def _vgg_features(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(True)]
            in_channels = v
    return nn.Sequential(*layers)


def _alexnet_features(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for v in ALEXNET_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
        else:
            out, kernel, stride, pad = v
            conv = nn.Conv2d(in_channels, out, kernel_size=kernel, stride=stride, padding=pad)
            layers += [conv, nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            in_channels = out
    return nn.Sequential(*layers)


def _small_features(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, width in enumerate(SMALL_WIDTHS):
        if i:
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width)]
        layers.append(nn.ReLU(inplace=True))
        in_channels = width
    return nn.Sequential(*layers)


@torch.no_grad()
def _initialize_weights(model: DeepClusterNet) -> None:
    """The reference init: conv N(0, sqrt(2/n)), n = k*k*out; BN 1/0; linear N(0, 0.01)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.normal_(0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(1.0)
            m.bias.zero_()
        elif isinstance(m, nn.Linear):
            m.weight.normal_(0.0, model.linear_std(m.in_features))
            m.bias.zero_()
