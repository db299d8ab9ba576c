"""Pretrained backbones from a local weights file: checkpoint layouts, errors, safety, extraction.

Each layout test writes random weights in the key layout the real checkpoints have (timm,
torchvision, MoCo/SSL4EO, official DINOv2 and DINOv3, Lightning, safetensors) and checks
that the features equal, bit for bit, those of the same weights loaded in memory. Small
architectures and inputs keep the file fast on a CPU.
"""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

from satcluster.errors import InputError
from satcluster.pretrained import BACKBONES, extract_features, gather_features, load_backbone
from satcluster.pretrained.weights import unwrap_state_dict

N_TILES = 5
TILE_PX = 24
SMALL_INPUT = 32  # px the tiles are resized to for the small nets


@pytest.fixture
def tiles(tmp_path: Path) -> Path:
    """A tiles .npy of N_TILES random uint8 RGB tiles."""
    path = tmp_path / "tiles.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.integers(0, 256, (N_TILES, TILE_PX, TILE_PX, 3), dtype=np.uint8))
    return path


def randomised(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """The model's state dict with its 1-D tensors (norms, biases, BN statistics) perturbed.

    Conv/linear weights are random from their init already; this makes a file whose norms
    or statistics were dropped or mixed up give other features.
    """
    generator = torch.Generator().manual_seed(seed)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for key, value in state.items():
        if value.is_floating_point() and value.ndim == 1:
            value.add_(0.05 * torch.randn(value.shape, generator=generator))
            if key.endswith("running_var"):
                value.abs_()
    return state


def reference(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """``model`` with ``state`` loaded in memory (the truth the files are checked against)."""
    model.load_state_dict(state)
    return model.eval()


def features(tiles: Path, model: nn.Module, config, out: Path, batch: int = 2) -> np.ndarray:
    """Features of all tiles through extract_features."""
    return np.load(extract_features(tiles, model, config, 0, N_TILES, out, batch=batch))


def assert_same_features(tiles: Path, tmp_path: Path, loaded, expected: nn.Module) -> None:
    """The loaded model and the in-memory reference give the same bytes."""
    model, config = loaded
    got = features(tiles, model, config, tmp_path / "got.npy")
    want = features(tiles, expected, config, tmp_path / "want.npy")
    assert got.dtype == np.float32 and got.shape == (N_TILES, config.dim)
    assert np.array_equal(got, want)
    assert np.isfinite(got).all() and got.std() > 0


def without(state: dict, *prefixes: str) -> dict:
    """``state`` without the keys under ``prefixes``."""
    return {k: v for k, v in state.items() if not k.startswith(prefixes)}


# --- key layouts -------------------------------------------------------------------------------
def test_timm_state_dict_with_classifier(tiles: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = randomised(timm.create_model("resnet18"))  # ImageNet head: fc 1000 x 512
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    loaded = load_backbone("timm:resnet18", path, input_size=SMALL_INPUT)
    expected = reference(timm.create_model("resnet18", num_classes=0), without(state, "fc."))
    assert_same_features(tiles, tmp_path, loaded, expected)


def test_torchvision_state_dict(tiles: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    state = randomised(torchvision.models.resnet18())
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(state, path)
    loaded = load_backbone("torchvision:resnet18", path, input_size=SMALL_INPUT)
    assert loaded[1].pool == "avg" and loaded[1].dim == 512
    net = torchvision.models.resnet18()
    net.fc = nn.Identity()
    assert_same_features(tiles, tmp_path, loaded, reference(net, without(state, "fc.")))


def moco_checkpoint() -> tuple[dict, dict[str, torch.Tensor]]:
    """A MoCo-v2 checkpoint as SSL4EO-S12's pretrain_moco_v2_s2c.py (and GASSL's) saves it.

    ``MoCo(models.__dict__[arch], dim=128, mlp=True)`` wrapped in DistributedDataParallel:
    ``{'epoch', 'arch', 'state_dict': {module.encoder_q.*, module.encoder_k.*, module.queue,
    module.queue_ptr}, 'optimizer'}``; the MLP head is ``encoder_q.fc.0`` / ``fc.2``.
    Returns the checkpoint and the query encoder's backbone weights.
    """

    def encoder() -> nn.Module:
        net = torchvision.models.resnet18(num_classes=128)
        net.fc = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), net.fc)
        return net

    torch.manual_seed(2)
    query, key = encoder(), encoder()  # different weights: the key encoder must not be read
    moco = nn.Module()
    moco.encoder_q, moco.encoder_k = query, key
    moco.register_buffer("queue", nn.functional.normalize(torch.randn(128, 64), dim=0))
    moco.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))
    query.load_state_dict(randomised(query, seed=2))
    state = {f"module.{k}": v for k, v in moco.state_dict().items()}
    optimizer = torch.optim.SGD(moco.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
    checkpoint = {
        "epoch": 100,
        "arch": "resnet18",
        "state_dict": state,
        "optimizer": optimizer.state_dict(),
    }
    return checkpoint, without(query.state_dict(), "fc.")


def test_moco_ssl4eo_checkpoint(tiles: Path, tmp_path: Path) -> None:
    checkpoint, backbone = moco_checkpoint()
    assert "module.encoder_q.conv1.weight" in checkpoint["state_dict"]
    assert "module.encoder_q.fc.0.weight" in checkpoint["state_dict"]
    path = tmp_path / "B3_rn18_moco_0099_ckpt.pth.tar"
    # the legacy (pre-zip) format of torch < 1.6, in which MoCo's own checkpoints were saved
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    loaded = load_backbone("torchvision:resnet18", path, input_size=SMALL_INPUT)
    net = torchvision.models.resnet18()
    net.fc = nn.Identity()
    assert_same_features(tiles, tmp_path, loaded, reference(net, backbone))


def dinov2_official(timm_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ViT-S/14 state dict as facebookresearch/dinov2 publishes it (dinov2_vits14_pretrain.pth).

    DinoVisionTransformer (img_size 518, block_chunks=0 in hub/backbones.py) has timm's names
    (blocks.N.ls1.gamma, ...) plus ``mask_token`` (1 x 384), which timm's
    ``_convert_dinov2`` drops.
    """
    return {**timm_state, "mask_token": torch.zeros(1, 384)}


def test_dinov2_official_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(3)
    net = timm.create_model("vit_small_patch14_dinov2", num_classes=0)
    state = randomised(net, seed=3)
    official = dinov2_official(state)
    assert official["pos_embed"].shape == (1, 1370, 384)  # 1 + 37 x 37 tokens at 518 px
    assert "blocks.11.ls2.gamma" in official
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(official, path)
    model, config = load_backbone("dinov2-vits14", path)
    assert (config.input_size, config.pool, config.dim) == (518, "token", 384)
    expected = reference(copy.deepcopy(net), state)
    # one tile at the native 518 px: a ViT-S forward of 1370 tokens is the costly part here
    one = tmp_path / "one.npy"
    np.save(one, np.random.default_rng(3).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8))
    got = np.load(extract_features(one, model, config, 0, 1, tmp_path / "got.npy"))
    want = np.load(extract_features(one, expected, config, 0, 1, tmp_path / "want.npy"))
    assert np.array_equal(got, want) and got.shape == (1, 384)

    # the teacher of a DINOv2 training checkpoint (train.py do_test: {"teacher": teacher
    # state dict}, backbone.* beside dino_head.* and ibot_head.*) loads the same weights
    teacher = {f"backbone.{k}": v for k, v in official.items()}
    teacher["dino_head.mlp.0.weight"] = torch.randn(2048, 384)
    teacher["ibot_head.last_layer.weight_g"] = torch.randn(1, 256)
    torch.save({"teacher": teacher}, tmp_path / "teacher_checkpoint.pth")
    from_teacher, _ = load_backbone("dinov2-vits14", tmp_path / "teacher_checkpoint.pth")
    for key, value in from_teacher.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def dinov3_official(timm_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A DINOv3 ViT state dict as facebookresearch/dinov3 saves it (qkv_bias, mask_k_bias).

    The inverse of timm's eva.checkpoint_filter_fn: storage_tokens (timm reg_token),
    blocks.N.ls1/ls2.gamma (gamma_1/2), one qkv.bias with its bias_mask (the k part zero)
    instead of q_bias/v_bias, plus mask_token and rope_embed.periods, which timm drops.
    """
    out = {"mask_token": torch.zeros(1, 384), "rope_embed.periods": torch.rand(16) * 100}
    for key, value in timm_state.items():
        if key == "reg_token":
            out["storage_tokens"] = value
        elif key.endswith("attn.q_bias"):
            base = key[: -len("q_bias")]
            v_bias = timm_state[base + "v_bias"]
            out[base + "qkv.bias"] = torch.cat([value, torch.randn_like(value), v_bias])
            out[base + "qkv.bias_mask"] = torch.cat(
                [torch.ones_like(value), torch.zeros_like(value), torch.ones_like(value)]
            )
        elif not key.endswith("attn.v_bias"):
            out[key.replace("gamma_1", "ls1.gamma").replace("gamma_2", "ls2.gamma")] = value
    return out


def test_dinov3_official_checkpoint(tiles: Path, tmp_path: Path) -> None:
    kwargs = {"num_classes": 0, "global_pool": "token", "use_fc_norm": False}
    kwargs["img_size"] = SMALL_INPUT
    torch.manual_seed(4)
    net = timm.create_model("vit_small_patch16_dinov3_qkvb", **kwargs)
    state = randomised(net, seed=4)
    official = dinov3_official(state)
    assert "storage_tokens" in official and "blocks.0.attn.qkv.bias_mask" in official
    path = tmp_path / "dinov3_vits16_pretrain_lvd1689m-08c60483.pth"
    torch.save(official, path)
    loaded = load_backbone(
        "timm:vit_small_patch16_dinov3_qkvb", path, pool="token", input_size=SMALL_INPUT
    )
    expected = timm.create_model("vit_small_patch16_dinov3_qkvb", **kwargs)
    assert_same_features(tiles, tmp_path, loaded, reference(expected, state))


def test_lightning_checkpoint(tiles: Path, tmp_path: Path) -> None:
    torch.manual_seed(5)
    net = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=SMALL_INPUT)
    state = randomised(net, seed=5)
    checkpoint = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.5.0",
        "state_dict": {f"model.{k}": v for k, v in state.items()},
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 3}}}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]}],
        "lr_schedulers": [],
        "hyper_parameters": {"arch": "vit_tiny_patch16_224", "lr": 1e-3},
    }
    path = tmp_path / "epoch=3-step=120.ckpt"
    torch.save(checkpoint, path)
    loaded = load_backbone("vit_tiny_patch16_224", path, input_size=SMALL_INPUT)
    expected = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=SMALL_INPUT)
    assert_same_features(tiles, tmp_path, loaded, reference(expected, state))


def test_safetensors(tiles: Path, tmp_path: Path) -> None:
    torch.manual_seed(6)
    net = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=SMALL_INPUT)
    state = randomised(net, seed=6)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded = load_backbone("timm:vit_tiny_patch16_224", path, input_size=SMALL_INPUT)
    expected = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=SMALL_INPUT)
    assert_same_features(tiles, tmp_path, loaded, reference(expected, state))


def test_wrappers_are_unwrapped_by_name() -> None:
    """Satlas (backbone.backbone.* beside the FPN), torch.compile and DDP prefixes."""
    model_keys = ["features.0.weight", "norm.weight"]
    w = torch.zeros(1)
    satlas = {
        "backbone.backbone.features.0.weight": w,
        "backbone.backbone.norm.weight": w,
        "intermediates.0.fpn_inner1.weight": w,
        "heads.0.layer.weight": w,
    }
    assert sorted(unwrap_state_dict(satlas, model_keys, Path("f"))) == sorted(model_keys)
    compiled = {"model": {"module._orig_mod.features.0.weight": w}, "epoch": 1}
    assert list(unwrap_state_dict(compiled, model_keys, Path("f"))) == ["features.0.weight"]
    # a model whose own keys start with a wrapper's name keeps them
    own = {"model.0.weight": w}
    assert list(unwrap_state_dict(own, ["model.0.weight"], Path("f"))) == ["model.0.weight"]


# --- files that do not fit -----------------------------------------------------------------------
@pytest.fixture
def vit_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(7)
    net = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=SMALL_INPUT)
    return net.state_dict()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("missing", "1 missing key (blocks.0.attn.qkv.weight)"),
        ("unexpected", "1 unexpected key (extra.weight)"),
        ("reshaped", "blocks.0.mlp.fc1.weight (10, 192) in the file, (768, 192) in the model"),
    ],
)
def test_file_that_does_not_fit(tmp_path: Path, vit_state: dict, change: str, named: str) -> None:
    state = dict(vit_state)
    if change == "missing":
        del state["blocks.0.attn.qkv.weight"]
    elif change == "unexpected":
        state["extra.weight"] = torch.zeros(3)
    else:
        state["blocks.0.mlp.fc1.weight"] = torch.zeros(10, 192)
    path = tmp_path / f"{change}.pth"
    torch.save(state, path)
    with pytest.raises(InputError) as caught:
        load_backbone("timm:vit_tiny_patch16_224", path, input_size=SMALL_INPUT)
    message = str(caught.value)
    assert str(path) in message and "timm:vit_tiny_patch16_224" in message and named in message
    assert "\n" not in message
    if change == "reshaped":  # a shape never loads; missing or extra keys do when not strict
        with pytest.raises(InputError):
            load_backbone("timm:vit_tiny_patch16_224", path, strict=False, input_size=32)
    else:
        model, _ = load_backbone("timm:vit_tiny_patch16_224", path, strict=False, input_size=32)
        assert torch.equal(model.state_dict()["cls_token"], vit_state["cls_token"])


def test_weights_of_another_architecture(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(InputError, match=r"missing keys \(cls_token, pos_embed, .*unexpected keys"):
        load_backbone("timm:vit_tiny_patch16_224", path, input_size=SMALL_INPUT)


def test_unusable_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="weights file not found"):
        load_backbone("torchvision:resnet18", tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(InputError, match=r"garbage.pth is not a readable PyTorch checkpoint"):
        load_backbone("torchvision:resnet18", garbage)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_backbone("torchvision:resnet18", broken)
    for arch in ("timm:no_such_net", "torchvision:no_such_net", "hf-hub:timm/resnet18", "x:y"):
        with pytest.raises(InputError):
            load_backbone(arch, garbage)
    with pytest.raises(InputError, match="pool"):
        load_backbone("torchvision:resnet18", garbage, pool="token")
    # SSL4EO states no normalisation for 8-bit tiles: the user must give it
    with pytest.raises(InputError, match="give mean and std"):
        load_backbone("ssl4eo-s12-rgb-moco-rn50", garbage)


# --- no code, no network -------------------------------------------------------------------------
def _touch(path: str) -> None:
    """What the malicious pickle below calls when unpickled (creates a marker file)."""
    Path(path).touch()


class _Payload:
    """An object whose unpickling calls _touch(marker): code execution by pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (_touch, (self.marker,))


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_pickle_is_never_executed(tmp_path: Path, zip_format: bool) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    state = torchvision.models.resnet18().state_dict()
    checkpoint = {"state_dict": state, "payload": _Payload(marker)}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(InputError) as caught:
        load_backbone("torchvision:resnet18", path)
    assert str(path) in str(caught.value) and "_touch" in str(caught.value)
    assert not marker.exists()
    # the file is armed: a plain unpickling runs the payload
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_no_network_is_used(tiles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    torch.save(timm.create_model("vit_tiny_patch16_224").state_dict(), tmp_path / "vit.pth")
    # a VGG file without its classifier (features only) is fine too
    vgg = without(torchvision.models.vgg11_bn().state_dict(), "classifier.")
    torch.save(vgg, tmp_path / "vgg.pth")
    for arch, name in (("vit_tiny_patch16_224", "vit.pth"), ("torchvision:vgg11_bn", "vgg.pth")):
        model, config = load_backbone(arch, tmp_path / name, input_size=SMALL_INPUT)
        assert features(tiles, model, config, tmp_path / "f.npy").shape == (N_TILES, config.dim)
    assert attempts == []


# --- extraction and gathering ------------------------------------------------------------------
def test_chunks_gathered_equal_one_chunk_byte_for_byte(tiles: Path, tmp_path: Path) -> None:
    torch.manual_seed(8)
    path = tmp_path / "resnet18.pth"
    torch.save(randomised(torchvision.models.resnet18(), seed=8), path)
    model, config = load_backbone("torchvision:resnet18", path, input_size=SMALL_INPUT)
    # batch 2 and a split at row 3: the chunks' batches differ from the whole run's
    whole = extract_features(tiles, model, config, 0, N_TILES, tmp_path / "whole.npy", batch=2)
    again = extract_features(tiles, model, config, 0, N_TILES, tmp_path / "again.npy", batch=2)
    first = extract_features(tiles, model, config, 0, 3, tmp_path / "c0.npy", batch=2)
    second = extract_features(tiles, model, config, 3, N_TILES, tmp_path / "c1.npy", batch=2)
    gathered = gather_features([first, second], tmp_path / "gathered.npy")
    assert whole.read_bytes() == again.read_bytes() == gathered.read_bytes()
    array = np.load(gathered)
    assert array.shape == (N_TILES, 512) and array.dtype == np.float32
    np.save(tmp_path / "numpy.npy", array)  # the same header and bytes as np.save
    assert (tmp_path / "numpy.npy").read_bytes() == gathered.read_bytes()
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporaries left behind


def test_extract_and_gather_refuse_bad_input(tiles: Path, tmp_path: Path) -> None:
    model, config = load_backbone(
        "torchvision:resnet18", _saved(torchvision.models.resnet18(), tmp_path), input_size=32
    )
    for start, stop in ((0, 0), (3, 2), (0, N_TILES + 1), (-1, 2)):
        with pytest.raises(InputError, match="not a chunk"):
            extract_features(tiles, model, config, start, stop, tmp_path / "f.npy")
    np.save(tmp_path / "a.npy", np.zeros((2, 4), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((2, 5), np.float32))
    np.save(tmp_path / "c.npy", np.zeros((2, 4), np.float64))
    with pytest.raises(InputError, match="different lengths"):
        gather_features([tmp_path / "a.npy", tmp_path / "b.npy"], tmp_path / "g.npy")
    with pytest.raises(InputError, match="float32"):
        gather_features([tmp_path / "a.npy", tmp_path / "c.npy"], tmp_path / "g.npy")
    with pytest.raises(InputError, match="not found"):
        gather_features([tmp_path / "a.npy", tmp_path / "absent.npy"], tmp_path / "g.npy")
    cut = tmp_path / "cut.npy"
    cut.write_bytes((tmp_path / "a.npy").read_bytes()[:-4])
    with pytest.raises(InputError, match="truncated"):
        gather_features([tmp_path / "a.npy", cut], tmp_path / "g.npy")
    assert not (tmp_path / "g.npy").exists()


def _saved(model: nn.Module, folder: Path) -> Path:
    path = folder / "weights.pth"
    torch.save(model.state_dict(), path)
    return path


# --- the registry --------------------------------------------------------------------------------
def test_registry_matches_its_libraries() -> None:
    """Each entry's architecture exists; timm/torchvision's own configs agree with its facts."""
    from timm.models import get_pretrained_cfg, is_model

    for entry in BACKBONES.values():
        library, name = entry.arch.split(":")
        assert entry.pool in ("token", "avg") and entry.bands == ("red", "green", "blue")
        if library == "timm":
            assert is_model(name), name
            cfg = get_pretrained_cfg(name)
            assert (cfg.input_size[-1], tuple(cfg.mean), tuple(cfg.std)) == (
                entry.input_size,
                entry.mean,
                entry.std,
            ), entry.name
        else:
            assert name in torchvision.models.list_models(module=torchvision.models)
    sat = BACKBONES["dinov3-vitl16-sat493m"]
    assert (sat.mean, sat.std) == ((0.430, 0.411, 0.296), (0.213, 0.156, 0.143))
    for name in ("resnet50-imagenet", "vgg16bn-imagenet"):
        arch = BACKBONES[name].arch.split(":")[1]
        preset = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
        assert (preset.crop_size[0], tuple(preset.mean), tuple(preset.std)) == (
            BACKBONES[name].input_size,
            BACKBONES[name].mean,
            BACKBONES[name].std,
        )
