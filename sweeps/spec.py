"""TrialSpec: everything that determines one trial's result, and its stable key.

A trial is a pure function of its TrialSpec, so the spec's canonical JSON is hashed into
``trial_key`` (the identity MLflow and resume rely on) and the training-relevant part into
``model_key`` (trials that train the same model share its checkpoints: trained once).

The spec keeps the mappings the user wrote (the keys hash those, so a default added later
moves no key); ``spec.config`` is the same settings parsed once into typed blocks, which is
what every reader of a trial's settings uses.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sweeps.presets import (
        AdversarialConfig,
        DataConfig,
        EvalConfig,
        ModelConfig,
        TrainConfig,
    )

KEY_LENGTH = 16
# Training settings that change how a trial runs, not what it computes: not in the keys.
RUNTIME_ONLY = ("checkpoint_every_s",)
DATA_LOCATION = ("root", "packed")


def _digest(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_LENGTH]


@dataclass(frozen=True)
class TrialConfig:
    """A trial's settings as typed blocks, every default filled in."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    evaluation: EvalConfig
    adversarial: AdversarialConfig | None
    measures: dict[str, Any]  # each measure's settings object, by measure name


@dataclass(frozen=True)
class TrialSpec:
    """One model trained and then evaluated; plain data so it travels through Ray as JSON."""

    sweep: str
    preset: str
    dataset: str
    arch: str
    train_tasks: tuple[str, ...]
    main_tasks: tuple[str, ...]
    weights: dict[str, float]
    evals: tuple[str, ...]
    # Tasks a single-task eval attacks (the first) / an _mt eval attacks together.
    attacked: tuple[str, ...]
    # Tasks whose metrics are recorded under every eval.
    report: tuple[str, ...]
    seed: int
    data: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    evaluation: dict[str, Any]
    measures: tuple[str, ...] = ()
    adversarial: dict[str, Any] | None = None
    # Settings the sweep gives a measure, by measure name (only measures given some).
    measure_settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ---------------------------------------------------------------- settings
    @cached_property
    def config(self) -> TrialConfig:
        """The blocks parsed once (the sweep loader has already checked them)."""
        # Here, not at the top: reading a run's recorded trials needs no presets (nor torch).
        from attacks.measures import MEASURES
        from sweeps.presets import (
            AdversarialConfig,
            DataConfig,
            EvalConfig,
            ModelConfig,
            TrainConfig,
            parse_block,
        )

        return TrialConfig(
            data=parse_block(DataConfig, self.data, "data"),
            model=parse_block(ModelConfig, self.model, "model"),
            train=parse_block(TrainConfig, self.train, "train"),
            evaluation=parse_block(EvalConfig, self.evaluation, "evaluation"),
            adversarial=(
                parse_block(AdversarialConfig, self.adversarial, "adversarial")
                if self.adversarial
                else None
            ),
            measures={
                name: parse_block(
                    MEASURES[name].settings, self.measure_settings.get(name), f"measures.{name}"
                )
                for name in self.measures
            },
        )

    @property
    def output_dim(self) -> dict[str, Any]:
        """The settings given to the output-dimensionality measure (the release's block)."""
        return self.measure_settings.get("output_dim", {})

    # ---------------------------------------------------------------- identity
    def _result_fields(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("sweep", "preset"):
            d.pop(name)
        # Key schema of release 0.1.0, kept so its stores resume: measure settings (then only
        # output_dim's) lived in "extra".
        d["extra"] = {k: v for k, v in d.pop("measure_settings").items() if v}
        # Where the data lies (a root, a packed copy of it) is not what the trial computes.
        d["data"] = {k: v for k, v in self.data.items() if k not in DATA_LOCATION}
        d["train"] = {k: v for k, v in self.train.items() if k not in RUNTIME_ONLY}
        return d

    @property
    def trial_key(self) -> str:
        """Hash of what determines the result (not the sweep's name nor the data's path)."""
        return _digest(self._result_fields())

    @property
    def model_key(self) -> str:
        """Hash of what determines the trained weights, shared by trials that differ only in evaluation."""
        d = self._result_fields()
        for name in (
            "main_tasks",
            "evals",
            "attacked",
            "report",
            "evaluation",
            "measures",
            "extra",
        ):
            d.pop(name)
        return _digest(d)

    @property
    def aux_tasks(self) -> tuple[str, ...]:
        return tuple(t for t in self.train_tasks if t not in self.main_tasks)

    @property
    def label(self) -> str:
        """Short human name: main task(s), then '+aux' for each auxiliary task."""
        aux = "".join(f"+{t}" for t in self.aux_tasks)
        return f"{'&'.join(self.main_tasks)}{aux}/seed{self.seed}"

    # ---------------------------------------------------------------- transport
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialSpec:
        d = dict(d)
        if "output_dim" in d:  # a spec sent before measure settings were keyed by measure
            d["measure_settings"] = {"output_dim": d.pop("output_dim")} if d["output_dim"] else {}
        for name in ("train_tasks", "main_tasks", "evals", "attacked", "report", "measures"):
            d[name] = tuple(d.get(name, ()))
        return cls(**d)
