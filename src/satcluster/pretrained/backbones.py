"""The pretrained backbones users reach for, as frozen records (in the style of torchgeo's weights).

Each record names the architecture that reads the weights (``timm:<model>`` or
``torchvision:<model>``), where the weights come from, their licence, the bands they expect,
the input size, the normalisation of 0-1 pixel values and the pooling of the features. Every
fact is taken from the source named beside it; where that source does not state it, the
field says "not stated" (or is None) instead of a guess, and ``load_backbone`` asks the
user for what it needs. No weights are downloaded: the user has the file.

No torch here: the config checks can import the registry without loading torch or timm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from satcluster.errors import InputError

__all__ = ["BACKBONES", "POOLS", "Backbone", "backbone_names", "get_backbone"]

POOLS = ("token", "avg")  # class token, or mean of the patch tokens / of the last feature map

NOT_STATED = "not stated"
RGB = ("red", "green", "blue")
# timm/data/constants.py IMAGENET_DEFAULT_MEAN/_STD; torchvision transforms/_presets.py
# ImageClassification defaults (the same numbers)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ZERO_MEAN = (0.0, 0.0, 0.0)
UNIT_STD = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Backbone:
    """A backbone and its weights: what reads them and how tiles must be prepared for them.

    ``mean`` and ``std`` apply to pixel values scaled to 0-1 (uint8 / 255); None where the
    source states none for 8-bit RGB tiles. ``input_size`` is the side in pixels the whole
    tile is resized to (no crop); None keeps the tile's own size. ``pool``: ``token`` (the
    class token after the final norm) or ``avg`` (mean of the normalised patch tokens for a
    ViT, global average of the last feature map for a CNN or a Swin). ``dim`` is the length
    of the feature vector.
    """

    name: str
    arch: str
    source: str
    licence: str
    bands: tuple[str, ...]
    input_size: int | None
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    pool: str
    dim: int | None = None
    notes: str = ""

    def with_overrides(self, **changes: object) -> Backbone:
        """A copy with the given fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENTRIES = [
    Backbone(
        # timm/models/eva.py: 'vit_large_patch16_dinov3.sat493m': _dinov3_cfg(mean=(0.430, 0.411,
        # 0.296), std=(0.213, 0.156, 0.143)), input_size (3, 256, 256), license 'dinov3-license';
        # facebookresearch/dinov3 README: "ViT-L/16 distilled, 300M, SAT-493M", transform
        # Resize((256, 256), antialias=True) + Normalize(those mean/std); hub/backbones.py:
        # dinov3_vitl16 SAT493M file dinov3_vitl16_pretrain_sat493m-eadcf0ff.pth
        name="dinov3-vitl16-sat493m",
        arch="timm:vit_large_patch16_dinov3.sat493m",
        source=(
            "Meta DINOv3 ViT-L/16 distilled, pretrained on SAT-493M (satellite RGB): "
            "dinov3_vitl16_pretrain_sat493m-eadcf0ff.pth from "
            "https://ai.meta.com/resources/models-and-libraries/dinov3-downloads/ "
            "(or the timm/vit_large_patch16_dinov3.sat493m files)"
        ),
        licence="DINOv3 License (https://github.com/facebookresearch/dinov3/blob/main/LICENSE.md)",
        bands=RGB,
        input_size=256,
        mean=(0.430, 0.411, 0.296),
        std=(0.213, 0.156, 0.143),
        # upstream DINOv3 returns the class token (its forward: head(x_norm_clstoken)); timm's
        # default for Eva is avg, so the pool is passed at creation
        pool="token",
        dim=1024,
        notes="timm >= 1.0.20 (first release with DINOv3)",
    ),
    *(
        Backbone(
            # timm/models/vision_transformer.py: 'vit_*_patch14_dinov2.lvd142m': _cfg(url=
            # 'https://dl.fbaipublicfiles.com/dinov2/dinov2_vit?14/dinov2_vit?14_pretrain.pth',
            # license='apache-2.0', IMAGENET_DEFAULT_MEAN/STD, input_size=(3, 518, 518))
            name=f"dinov2-vit{size}14",
            arch=f"timm:vit_{long}_patch14_dinov2.lvd142m",
            source=(
                f"Meta DINOv2 ViT-{size.upper()}/14 on LVD-142M: "
                f"https://dl.fbaipublicfiles.com/dinov2/dinov2_vit{size}14/"
                f"dinov2_vit{size}14_pretrain.pth"
            ),
            licence="Apache-2.0",
            bands=RGB,
            input_size=518,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            pool="token",  # DINOv2's forward returns head(x_norm_clstoken)
            dim=dim,
            notes="518 px as trained; a smaller input_size (a multiple of 14) costs less",
        )
        for size, long, dim in (("s", "small", 384), ("b", "base", 768), ("l", "large", 1024))
    ),
    Backbone(
        # allenai/satlaspretrain_models utils.py: 'Aerial_SwinB_SI' -> aerial_swinb_si.pth,
        # Backbone.SWINB; models/backbones.py: torchvision.models.swin_v2_b(); README: "8-bit
        # (0-255) aerial imagery at 0.5 - 2 m/pixel ... divided by 255 so they are 0-1"
        name="satlas-aerial-swinb-si",
        arch="torchvision:swin_v2_b",
        source=(
            "Allen AI SatlasPretrain, aerial 0.5-2 m/px RGB, single image: "
            "https://huggingface.co/allenai/satlas-pretrain/resolve/main/aerial_swinb_si.pth"
        ),
        licence=NOT_STATED,
        bands=RGB,
        input_size=None,  # not stated: the README's examples use 512 px, torchgeo crops 256
        mean=ZERO_MEAN,
        std=UNIT_STD,
        pool="avg",
        dim=1024,
        notes=(
            "Satlas reads the swin_v2_b 'features' stages; the pooled vector here passes "
            "torchvision's final norm, which Satlas' own forward does not use"
        ),
    ),
    Backbone(
        # zhu-xlab/SSL4EO-S12 README: "MoCo ResNet50 S2-L1C RGB full ckpt";
        # pretrain_moco_v2_s2c.py saves {'epoch', 'arch', 'state_dict': DDP(MoCo).state_dict(),
        # 'optimizer'} -> keys module.encoder_q.* with models.__dict__[arch] (torchvision).
        # torchgeo's rehosted copy divides 16-bit Sentinel-2 reflectance by 10000: nothing is
        # stated for 8-bit RGB tiles, so mean/std must be given.
        name="ssl4eo-s12-rgb-moco-rn50",
        arch="torchvision:resnet50",
        source=(
            "SSL4EO-S12 MoCo-v2 ResNet-50 on Sentinel-2 L1C RGB (full checkpoint): "
            "https://github.com/zhu-xlab/SSL4EO-S12#pre-trained-models"
        ),
        licence=NOT_STATED,
        bands=RGB,
        input_size=224,  # pretrain_moco_v2_s2c.py --in_size default 224
        mean=None,
        std=None,
        pool="avg",
        dim=2048,
        notes="normalisation of 8-bit tiles not stated: give mean and std",
    ),
    Backbone(
        # sustainlab-group/geography-aware-ssl moco_fmow/main_moco_geo+tp.py: torchvision
        # models.__dict__[arch] in MoCo, save_checkpoint({'state_dict', 'geo_dict', 'optimizer'}),
        # Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)), crops of 224 px
        name="gassl-fmow-moco-rn50",
        arch="torchvision:resnet50",
        source=(
            "Geography-Aware SSL (MoCo-v2+Geo+TP) ResNet-50 on fMoW RGB: "
            "https://github.com/sustainlab-group/geography-aware-ssl#models"
        ),
        licence=NOT_STATED,
        bands=RGB,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pool="avg",
        dim=2048,
    ),
    Backbone(
        # torchvision/models/resnet.py ResNet50_Weights.IMAGENET1K_V2: resnet50-11ad3fa6.pth,
        # ImageClassification(crop_size=224, resize_size=232) with the ImageNet mean/std
        name="resnet50-imagenet",
        arch="torchvision:resnet50",
        source="torchvision ResNet50_Weights: https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
        licence=NOT_STATED,
        bands=RGB,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pool="avg",
        dim=2048,
    ),
    Backbone(
        # torchvision/models/vgg.py VGG16_BN_Weights.IMAGENET1K_V1: vgg16_bn-6c64b313.pth,
        # ImageClassification(crop_size=224) with the ImageNet mean/std
        name="vgg16bn-imagenet",
        arch="torchvision:vgg16_bn",
        source="torchvision VGG16_BN_Weights: https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
        licence=NOT_STATED,
        bands=RGB,
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        pool="avg",  # global average of the last conv block (512), not the fc layers
        dim=512,
    ),
]

BACKBONES: dict[str, Backbone] = {entry.name: entry for entry in _ENTRIES}


def backbone_names() -> list[str]:
    """The registry's names, sorted."""
    return sorted(BACKBONES)


def get_backbone(name: str) -> Backbone:
    """The registry entry called ``name``, or InputError listing the names."""
    if name not in BACKBONES:
        raise InputError(
            f"unknown backbone {name!r}; choose one of {', '.join(backbone_names())}, or give "
            "an architecture as timm:<model> or torchvision:<model>."
        )
    return BACKBONES[name]
