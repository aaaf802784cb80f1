"""Typed preset blocks: every default in one place, every typo refused where it is written.

A preset is a budget (``smoke``, ``paper``, …) made of blocks — data, model, train,
evaluation, resources, adversarial, output_dim. Each block is a frozen dataclass; a
mapping from YAML (or ``--set``) is checked field by field, and an unknown key or a wrong
type is refused with its dotted path and the nearest valid key
(``presets.smoke.train.epoch: unknown key (did you mean 'epochs'?)``).

The trial key hashes the user-given mapping, not the parsed block, so adding a field with a
default here never changes the identity of trials already recorded.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import yaml

from attacks.measures import OutputDimConfig
from mtsweep.errors import MtsweepError
from mtsweep.registry import Registry
from sweeps.yaml_numbers import load_yaml


class SweepError(MtsweepError):
    """A sweep definition, or a request against it, that cannot be honoured."""


# ``fidelity``: what a preset reproduces. 'paper' (default): what the paper describes;
# 'authors': what the authors' code computed, its bugs replayed where they changed the
# published numbers (docs/fidelity.md, "Faithful replay").
PAPER, AUTHORS = "paper", "authors"
FIDELITIES = (PAPER, AUTHORS)

# --------------------------------------------------------------------------- the blocks


@dataclass(frozen=True)
class DataConfig:
    """Where a trial's images come from and at what size it trains on them."""

    source: Literal["synthetic", "real"] = "synthetic"
    root: str | None = None  # the real dataset's directory (set by --data-root)
    n: int = field(default=64, metadata={"min": 1})  # synthetic images to generate
    size: int = field(default=32, metadata={"min": 8})  # synthetic image side, pixels
    seed: int = field(default=0, metadata={"min": 0})  # synthetic scene seed
    image_size: int | None = field(default=None, metadata={"min": 8})  # None: dataset default
    split_set: Literal["tiny"] | None = None  # Taskonomy's official split (buildings) to read
    train_split: str = "train"
    packed: str | None = None  # a packed dataset ('mtsweep prepare') trials memory-map
    # How targets are scaled: 'standley' (Standley et al.) or 'taskonomy' (the original
    # Taskonomy/MTRobust loaders, the scale the paper's λ_a were chosen for); tasks.conventions.
    # 'mtrobust': 'taskonomy' with the authors' grayscale curvature read (``fidelity: authors``).
    convention: Literal["standley", "taskonomy", "mtrobust"] = "standley"
    crop: int | None = field(default=None, metadata={"min": 8})  # random training crop side
    flip: bool = False  # random horizontal flip of training samples (normals' x negated)


@dataclass(frozen=True)
class ModelConfig:
    """Network size and initial weights (the architecture is the sweep's ``arch``)."""

    width: float | None = field(default=None, metadata={"min": 1e-9})  # None: published size
    # A published checkpoint to start from (fyu/drn formats); relative: in the data root.
    init_from: str | None = None
    # Decoder convolutions as PyTorch builds them, or re-drawn as the authors' Taskonomy
    # network does (models/decoder_init.py).
    decoder_init: Literal["pytorch", "authors"] = "pytorch"
    # Each regression task's output layer as the decoder init left it, or at zero, so its
    # first prediction is 0, at its targets' scale (models/decoder_init.py).
    regression_head_init: Literal["default", "zero"] = "default"
    # Not the published network, for small images (models/resnet_taskonomy.py): the
    # encoder's output stride (None: the published one, 32 for the Taskonomy ResNets; 8 or
    # 16 dilate its last stages), and each task's decoder ('linear': a 1×1 convolution
    # up-sampled bilinearly).
    output_stride: Literal[8, 16, 32] | None = None
    decoder: Literal["published", "linear"] = "published"

    def network(self) -> dict[str, Any]:
        """The ``build_model`` keywords that shape the network."""
        return {"width": self.width, "output_stride": self.output_stride, "decoder": self.decoder}


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation budget of one model."""

    epochs: int = field(default=1, metadata={"min": 0})  # 0: evaluate init_from's weights
    batch_size: int = field(default=16, metadata={"min": 1})
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = field(default=1e-3, metadata={"min": 1e-12})
    momentum: float = field(default=0.9, metadata={"min": 0.0})
    weight_decay: float = field(default=0.0, metadata={"min": 0.0})
    lr_schedule: list[list[float]] | None = None  # [[epoch, lr], …], piecewise constant
    amp: bool = False  # bf16 autocast on CUDA
    # A masked task's loss over its valid pixels ('valid') or over all pixels, masked ones
    # counted in the denominator ('all', as MTRobust's losses; tasks.losses.valid_fraction).
    loss_denominator: Literal["valid", "all"] = "valid"
    # The autoencoder task's training loss: L1 on [0, 1] RGB, or MSE on RGB standardised by
    # the dataset's statistics ('mse_normalised', MTRobust's Cityscapes autoencoder).
    autoencoder_loss: Literal["l1", "mse_normalised"] = "l1"
    channels_last: bool = False
    compile: bool = False  # torch.compile on CUDA
    max_steps_per_epoch: int | None = field(default=None, metadata={"min": 1})
    # Seconds between checkpoints (0: every epoch; the last epoch is always saved). How a
    # trial runs, not what it computes: not part of the trial or model key.
    checkpoint_every_s: float = field(default=0.0, metadata={"min": 0.0})

    def lr_at(self, epoch: int) -> float:
        lr = self.lr
        for start, value in self.lr_schedule or []:
            if epoch >= start:
                lr = value
        return lr


@dataclass(frozen=True)
class EvalConfig:
    """Which images every evaluation (clean and attacked) runs on."""

    split: str = "val"
    n_images: int | None = field(default=None, metadata={"min": 1})  # None: the whole split
    batch_size: int = field(default=16, metadata={"min": 1})
    # Where the candidates of a λ_a selection (aux_weight: {select: […]}) are compared: the
    # main task's clean primary metric on this split, recorded as eval "selection_<split>"; the
    # reported cells come from ``split``.
    select_split: str | None = None
    # 'authors': attacks as the authors ran them, bugs included (attacks.replay); set by a
    # preset's ``fidelity: authors``.
    fidelity: Literal["paper", "authors"] = "paper"


@dataclass(frozen=True)
class ResourcesConfig:
    """What one trial books on the cluster; fractional GPUs pack several trials per card."""

    cpus_per_trial: float = field(default=1.0, metadata={"min": 1e-9})
    gpus_per_trial: float = field(default=0.0, metadata={"min": 0.0})


@dataclass(frozen=True)
class AdversarialConfig:
    """Madry-style adversarial training on the examples of one evaluation name."""

    eval: str  # e.g. pgd3_eps4 (the main task) or pgd3_eps4_mt (every trained task)
    # How an _mt training attack weighs the tasks: 'model' (each by the model's own λ, as
    # its training loss) or 'equal' (an unweighted sum, as every multitask attack in the
    # authors' code, MTRobust ensemble_attack.py).
    weights: Literal["model", "equal"] = "model"


# Block name → its dataclass: the one registry the loader, --set and `show --config` use.
BLOCKS: Registry[type] = Registry("preset block", SweepError)
BLOCKS.register("data", DataConfig)
BLOCKS.register("model", ModelConfig)
BLOCKS.register("train", TrainConfig)
BLOCKS.register("evaluation", EvalConfig)
BLOCKS.register("resources", ResourcesConfig)
BLOCKS.register("adversarial", AdversarialConfig)
BLOCKS.register("output_dim", OutputDimConfig)

# --------------------------------------------------------------------------- checking

B = TypeVar("B")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        tp, "null" if tp is type(None) else str(tp)
    )


def _conforms(value: Any, tp: Any) -> tuple[bool, Any]:
    """(does ``value`` have type ``tp``, the value converted: ints for floats, lists to tuples)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if tp is type(None):
        return value is None, value
    if origin is Literal:
        return value in typing.get_args(tp), value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, conv = _conforms(value, arg)
            if ok:
                return True, conv
        return False, value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return False, value
        (arg, *_) = typing.get_args(tp) or (Any,)
        converted = []
        for item in value:
            ok, conv = _conforms(item, arg)
            if not ok:
                return False, value
            converted.append(conv)
        return True, (tuple(converted) if origin is tuple else converted)
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and math.isfinite(value), (float(value) if ok else value)
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp), value


def unknown_key(where: str, key: str, known: list[str]) -> SweepError:
    """The one-line error for a key that is not there, naming the nearest one that is."""
    near = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {near[0]!r}?" if near else f"valid keys: {', '.join(sorted(known))}"
    return SweepError(f"{where}.{key}: unknown key ({hint})")


def parse_block(cls: type[B], raw: Any, where: str) -> B:
    """``raw`` (a mapping) as block ``cls``; SweepError naming the dotted key otherwise."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SweepError(f"{where}: expected a mapping of keys to values, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise unknown_key(where, str(key), list(fields))
        ok, converted = _conforms(value, hints[key])
        low = fields[key].metadata.get("min")
        if ok and low is not None and any(n < low for n in _numbers(converted)):
            ok = False
        if not ok:
            bound = f" >= {low:g}" if low is not None else ""
            raise SweepError(
                f"{where}.{key}: expected {_type_name(hints[key])}{bound}, got {value!r}"
            )
        values[key] = converted
    missing = [
        n
        for n, f in fields.items()
        if n not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise SweepError(f"{where}.{missing[0]}: required key is missing")
    try:
        return cls(**values)
    except ValueError as err:  # a block's own check of its values together (__post_init__)
        raise SweepError(f"{where}.{err}") from None


def _numbers(value: Any) -> list[float]:
    """The numbers a value holds: itself, or the items of a list of numbers."""
    items = value if isinstance(value, list | tuple) else [value]
    return [n for n in items if isinstance(n, int | float) and not isinstance(n, bool)]


def as_mapping(block: Any) -> dict[str, Any]:
    """A parsed block back as a plain mapping (for `show --config` and MLflow params)."""
    return dataclasses.asdict(block)


# --------------------------------------------------------------------------- --set


def parse_override(text: str) -> tuple[list[str], Any]:
    """``train.epochs=3`` → (['train', 'epochs'], 3); the value is read as YAML."""
    key, sep, value = text.partition("=")
    path = [p for p in key.strip().split(".")]
    if not sep or not key.strip() or any(not p for p in path):
        raise SweepError(
            f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. --set train.epochs=3"
        )
    try:
        parsed = load_yaml(value) if value.strip() else None
    except yaml.YAMLError:
        raise SweepError(f"--set {text!r}: the value is not valid YAML") from None
    return path, parsed


def apply_overrides(preset: dict[str, Any], overrides: list[str], where: str) -> dict[str, Any]:
    """A copy of a preset's raw mapping with each ``--set KEY=VALUE`` written into it.

    The result is checked like the YAML itself, so an override changes trial identity exactly
    as the same edit of the file would, and a mistyped key is refused the same way.
    """
    out = yaml.safe_load(yaml.safe_dump(preset))  # a deep copy of plain data
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                dotted = ".".join(path[: depth + 1])
                raise SweepError(f"--set {text!r}: {where}.{dotted} is not a mapping")
            node = child
        node[path[-1]] = value
    return out
