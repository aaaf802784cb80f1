"""Sweep definitions: load a YAML file, validate it, expand it into TrialSpecs.

A sweep names a dataset, an architecture, a set of models (which tasks each trains and
which are its main tasks), the evaluations every model gets, and presets (smoke, paper, …)
that set the budget. Everything here is checked before anything runs, so a typo costs a
one-line error instead of a failed cluster job.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from attacks.evals import parse_eval
from sweeps.spec import TrialSpec
from tasks.registry import DATASETS, UnknownTaskError, get_task, parse_tasks

BUILTIN_DIR = Path(__file__).parent
ARCHS = ("resnet18", "drn_d_22", "drn_d_105")
MEASURES = ("grad_norm", "output_dim")
PRESET_KEYS = {
    "seeds",
    "arch",
    "evals",
    "measures",
    "data",
    "model",
    "train",
    "evaluation",
    "resources",
    "adversarial",
    "extra",
}
TOP_KEYS = {
    "name",
    "reproduces",
    "description",
    "dataset",
    "arch",
    "models",
    "evals",
    "attacked",
    "report",
    "measures",
    "adversarial",
    "extra",
    "presets",
    "reduction",
}
REDUCTIONS = ("fig7", "multitask_attack", "attack_table", "output_dim", "none")


class SweepError(ValueError):
    """A sweep definition or a request against it that cannot be honoured."""


@dataclass(frozen=True)
class ModelEntry:
    """One model of a sweep: the tasks it trains, its main tasks, the auxiliary weight λ_a."""

    train: tuple[str, ...]
    main: tuple[str, ...]
    aux_weight: float = 0.0

    def weights(self) -> dict[str, float]:
        """λ = 1/|main| for each main task (1 for a single main task), λ_a for each auxiliary."""
        return {
            t: (1.0 / len(self.main) if t in self.main else self.aux_weight) for t in self.train
        }


@dataclass
class Sweep:
    name: str
    dataset: str
    arch: str
    models: list[ModelEntry]
    evals: list[str]
    attacked: str
    report: str
    measures: list[str]
    presets: dict[str, dict[str, Any]]
    reproduces: str = ""
    description: str = ""
    adversarial: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    reduction: str = "none"
    source: Path | None = None

    # ---------------------------------------------------------------- expansion
    def preset(self, name: str) -> dict[str, Any]:
        if name not in self.presets:
            raise SweepError(
                f"sweep {self.name!r} has no preset {name!r}; choose one of {', '.join(self.presets)}"
            )
        return self.presets[name]

    def expand(
        self,
        preset: str,
        tasks: list[str] | None = None,
        seeds: list[int] | None = None,
        data_root: str | None = None,
    ) -> list[TrialSpec]:
        """Every trial of this sweep under a preset; --tasks keeps models trained only on those tasks."""
        p = self.preset(preset)
        models = self.models
        if tasks:
            try:
                keep = {t.name for t in parse_tasks(self.dataset, tasks)}
            except UnknownTaskError as e:
                raise SweepError(f"--tasks: {e}") from None
            models = [m for m in models if set(m.train) <= keep]
            if not models:
                raise SweepError(
                    f"--tasks {','.join(tasks)} leaves no model of sweep {self.name!r}; "
                    "name tasks that its models train (see 'mtsweep show')"
                )
        seed_list = list(seeds) if seeds is not None else list(p.get("seeds", [0]))
        data = dict(p.get("data", {}))
        if data_root is not None:
            data = {**data, "source": "real", "root": str(Path(data_root).expanduser().resolve())}
        elif data.get("source") == "real" and not data.get("root"):
            raise SweepError(
                f"preset {preset!r} of {self.name!r} reads real {self.dataset} data: pass "
                "--data-root DIR, or use the smoke preset (synthetic data)"
            )
        arch = p.get("arch", self.arch)
        evals = tuple(p.get("evals", self.evals))
        measures = tuple(p.get("measures", self.measures))
        adversarial = p.get("adversarial", self.adversarial)
        extra = {**self.extra, **p.get("extra", {})}
        specs = []
        for m in models:
            attacked = m.main if self.attacked == "main" else m.train
            report = m.main if self.report == "main" else m.train
            # Houdini attacks a segmentation metric; it does not apply to other main tasks.
            segmentation = all(get_task(self.dataset, t).kind == "segmentation" for t in attacked)
            model_evals = tuple(e for e in evals if segmentation or not e.startswith("houdini"))
            for seed in seed_list:
                specs.append(
                    TrialSpec(
                        sweep=self.name,
                        preset=preset,
                        dataset=self.dataset,
                        arch=arch,
                        train_tasks=m.train,
                        main_tasks=m.main,
                        weights=m.weights(),
                        evals=model_evals,
                        attacked=attacked,
                        report=report,
                        seed=int(seed),
                        data=data,
                        model=dict(p.get("model", {})),
                        train=dict(p.get("train", {})),
                        evaluation=dict(p.get("evaluation", {})),
                        measures=measures,
                        adversarial=copy.deepcopy(adversarial),
                        extra=extra,
                    )
                )
        return specs

    def resources(self, preset: str) -> dict[str, float]:
        r = self.preset(preset).get("resources", {})
        return {
            "cpus_per_trial": float(r.get("cpus_per_trial", 1)),
            "gpus_per_trial": float(r.get("gpus_per_trial", 0)),
        }


# -------------------------------------------------------------------- loading


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load_sweep(name_or_path: str) -> Sweep:
    """A built-in sweep by name, or a YAML file by path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        path = BUILTIN_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise SweepError(
                f"unknown sweep {name_or_path!r}; built-in sweeps: {', '.join(builtin_names())} "
                "(or give a path to a YAML file)"
            )
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SweepError(f"cannot read sweep file {path}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SweepError(f"sweep file {path} is not valid YAML{where}; fix the syntax") from None
    return parse_sweep(raw, source=path)


def _require(cond: bool, where: Path | None, msg: str) -> None:
    if not cond:
        prefix = f"{where}: " if where else ""
        raise SweepError(prefix + msg)


def _task_names(dataset: str, spec: Any, src: Path | None, what: str) -> tuple[str, ...]:
    try:
        if isinstance(spec, list):
            spec = [str(s) for s in spec]
        return tuple(t.name for t in parse_tasks(dataset, spec))
    except UnknownTaskError as e:
        raise SweepError(f"{src}: {what}: {e}") from None


def _positive(value: Any, src: Path | None, what: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    _require(ok, src, f"{what} must be a positive number, got {value!r}")
    return float(value)


def _parse_models(dataset: str, raw: Any, src: Path | None) -> list[ModelEntry]:
    _require(
        isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in ("pairs", "list"),
        src,
        "'models' must be a mapping with one key: 'pairs' or 'list'",
    )
    kind, body = next(iter(raw.items()))
    if kind == "pairs":
        _require(isinstance(body, dict) and "tasks" in body, src, "models.pairs needs 'tasks'")
        names = _task_names(dataset, body["tasks"], src, "models.pairs.tasks")
        weights = dict(body.get("aux_weight", {}))
        default = _positive(weights.pop("default", 0.01), src, "aux_weight.default")
        by_aux = {
            get_task(dataset, str(k)).name: _positive(v, src, f"aux_weight.{k}")
            for k, v in weights.items()
        }
        entries = [ModelEntry(train=(m,), main=(m,)) for m in names]
        entries += [
            ModelEntry(train=(m, a), main=(m,), aux_weight=by_aux.get(a, default))
            for m in names
            for a in names
            if a != m
        ]
        return entries
    _require(isinstance(body, list) and body, src, "models.list must be a non-empty list")
    entries = []
    for i, item in enumerate(body):
        _require(isinstance(item, dict) and "train" in item, src, f"models.list[{i}] needs 'train'")
        train = _task_names(dataset, str(item["train"]), src, f"models.list[{i}].train")
        main = _task_names(
            dataset, str(item.get("main", item["train"])), src, f"models.list[{i}].main"
        )
        _require(set(main) <= set(train), src, f"models.list[{i}]: main tasks must be trained")
        aux = float(item.get("aux_weight", 0.0))
        if len(main) < len(train):
            aux = _positive(item.get("aux_weight"), src, f"models.list[{i}].aux_weight")
        entries.append(ModelEntry(train=train, main=main, aux_weight=aux))
    return entries


def _check_preset(name: str, p: Any, src: Path | None) -> dict[str, Any]:
    _require(isinstance(p, dict), src, f"preset {name!r} must be a mapping")
    unknown = set(p) - PRESET_KEYS
    _require(
        not unknown,
        src,
        f"preset {name!r}: unknown key(s) {sorted(unknown)}; allowed: {sorted(PRESET_KEYS)}",
    )
    seeds = p.get("seeds", [0])
    _require(
        isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds),
        src,
        f"preset {name!r}: seeds must be a list of non-negative integers",
    )
    train = p.get("train", {})
    for key in ("epochs", "batch_size"):
        if key in train:
            v = train[key]
            _require(
                isinstance(v, int) and v > 0,
                src,
                f"preset {name!r}: train.{key} must be a positive integer, got {v!r}",
            )
    if "lr" in train:
        _positive(train["lr"], src, f"preset {name!r}: train.lr")
    every = train.get("checkpoint_every_s", 0)
    _require(
        isinstance(every, int | float) and not isinstance(every, bool) and every >= 0,
        src,
        f"preset {name!r}: train.checkpoint_every_s must be a number of seconds >= 0, "
        f"got {every!r}",
    )
    data = p.get("data", {})
    _require(
        data.get("source", "synthetic") in ("synthetic", "real"),
        src,
        f"preset {name!r}: data.source must be 'synthetic' or 'real'",
    )
    res = p.get("resources", {})
    for key in ("cpus_per_trial", "gpus_per_trial"):
        if key in res:
            v = res[key]
            _require(
                isinstance(v, int | float) and v >= 0,
                src,
                f"preset {name!r}: resources.{key} must be >= 0, got {v!r}",
            )
    if "arch" in p:
        _require(
            p["arch"] in ARCHS,
            src,
            f"preset {name!r}: unknown arch {p['arch']!r}; known: {', '.join(ARCHS)}",
        )
    return p


def _check_evals(evals: Any, src: Path | None, where: str) -> list[str]:
    _require(isinstance(evals, list) and evals, src, f"{where} must be a non-empty list")
    for e in evals:
        try:
            parse_eval(str(e))
        except ValueError as err:
            raise SweepError(f"{src}: {where}: {err}") from None
    return [str(e) for e in evals]


def parse_sweep(raw: Any, source: Path | None = None) -> Sweep:
    """Validate a sweep mapping (already parsed from YAML)."""
    src = source
    _require(isinstance(raw, dict), src, "a sweep file must be a YAML mapping")
    unknown = set(raw) - TOP_KEYS
    _require(not unknown, src, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}")
    for key in ("name", "dataset", "arch", "models", "evals", "presets"):
        _require(key in raw, src, f"missing required key {key!r}")
    dataset = raw["dataset"]
    _require(dataset in DATASETS, src, f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    _require(raw["arch"] in ARCHS, src, f"unknown arch {raw['arch']!r}; known: {', '.join(ARCHS)}")
    for key in ("attacked", "report"):
        _require(raw.get(key, "main") in ("main", "all"), src, f"{key} must be 'main' or 'all'")
    reduction = raw.get("reduction", "none")
    _require(reduction in REDUCTIONS, src, f"reduction must be one of {REDUCTIONS}")
    measures = list(raw.get("measures", []))
    _require(set(measures) <= set(MEASURES), src, f"measures must be among {MEASURES}")
    presets = raw["presets"]
    _require(isinstance(presets, dict) and presets, src, "'presets' must be a non-empty mapping")
    checked = {str(k): _check_preset(str(k), v, src) for k, v in presets.items()}
    for pname, p in checked.items():
        if "evals" in p:
            _check_evals(p["evals"], src, f"preset {pname!r}: evals")
    return Sweep(
        name=str(raw["name"]),
        dataset=dataset,
        arch=raw["arch"],
        models=_parse_models(dataset, raw["models"], src),
        evals=_check_evals(raw["evals"], src, "evals"),
        attacked=raw.get("attacked", "main"),
        report=raw.get("report", "main"),
        measures=measures,
        presets=checked,
        reproduces=str(raw.get("reproduces", "")),
        description=str(raw.get("description", "")),
        adversarial=raw.get("adversarial"),
        extra=dict(raw.get("extra", {})),
        reduction=reduction,
        source=source,
    )
