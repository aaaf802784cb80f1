"""Sweep definitions: load a YAML file, check it, expand it into TrialSpecs.

A sweep names a dataset, an architecture, its models (which tasks each trains, which are
its main tasks), the evaluations every model gets, and presets (smoke, paper, …) that set
the budget through typed blocks (``sweeps.presets``). Everything is checked when the sweep
loads, so a typo costs a one-line error instead of a failed cluster job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from attacks.eval_names import applies_to, parse_eval
from attacks.measures import MEASURES
from models import arch_names
from mtsweep.shared_storage import is_uri
from sweeps.presets import (
    AUTHORS,
    BLOCKS,
    FIDELITIES,
    PAPER,
    AdversarialConfig,
    DataConfig,
    ResourcesConfig,
    SweepError,
    apply_overrides,
    as_mapping,
    parse_block,
    unknown_key,
)
from sweeps.spec import TrialSpec
from sweeps.yaml_numbers import load_yaml
from tasks.datasets import dataset_names
from tasks.registry import Task, UnknownTaskError, get_task, parse_tasks

BUILTIN_DIR = Path(__file__).parent
# Keys a preset may set: its own seeds, and overrides of the sweep's choices and blocks.
PRESET_KEYS = ("seeds", "arch", "evals", "measures", "aux_weight", "fidelity", *BLOCKS)
# Blocks a sweep may set once for all presets (a preset's own block replaces it whole).
SWEEP_BLOCKS = ("adversarial", "output_dim")
TOP_KEYS = (
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
    "presets",
    "reduction",
    "split_aux_weight",
    *SWEEP_BLOCKS,
)

__all__ = ["ModelEntry", "Sweep", "SweepError", "builtin_names", "load_sweep", "parse_sweep"]


@dataclass(frozen=True)
class ModelEntry:
    """One model of a sweep: the tasks it trains, its main tasks, the auxiliary weight λ_a."""

    train: tuple[str, ...]
    main: tuple[str, ...]
    aux_weight: float = 0.0
    # λ_a shared out among the auxiliary tasks (λ_a/#aux each), as the authors' Cityscapes
    # training did (MTRobust mtask_train_loop.py: mt_lambda/(len(task_set)-len(test_task_set))).
    split_aux: bool = False

    def weights(self) -> dict[str, float]:
        """λ = 1/|main| for each main task (1 for a single main task), λ_a for each auxiliary
        (λ_a/#aux with ``split_aux``)."""
        n_aux = len(self.train) - len(self.main)
        aux = self.aux_weight / n_aux if self.split_aux and n_aux else self.aux_weight
        return {t: (1.0 / len(self.main) if t in self.main else aux) for t in self.train}


def with_fidelity(
    dataset: str, fidelity: str, data: dict[str, Any] | None, evaluation: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The data and evaluation blocks a preset's ``fidelity`` implies: unchanged for
    'paper' (so no trial key moves); for 'authors' the authors' Taskonomy targets with their
    grayscale curvature read (convention 'mtrobust') and their attacks (attacks.replay)."""
    if fidelity == PAPER:
        return data, evaluation
    if dataset == "taskonomy":
        data = {**(data or {}), "convention": "mtrobust"}
    return data, {**(evaluation or {}), "fidelity": AUTHORS}


@dataclass(frozen=True)
class MergedPreset:
    """One preset as its trials see it, before defaults: ``--set`` applied and checked, and
    the sweep's arch, evaluations, measures and sweep-level blocks where it sets none."""

    name: str
    raw: dict[str, Any]  # the preset's own mapping, --set applied
    seeds: tuple[int, ...]
    arch: str
    evals: tuple[str, ...]
    measures: dict[str, Any]  # measure name → the settings given (None: its defaults)
    blocks: dict[str, Any]  # block name → the mapping given (absent: not given)
    models: list[ModelEntry]


@dataclass
class Sweep:
    """A checked sweep file: its models, evaluations and raw presets (checked, not merged)."""

    name: str
    dataset: str
    arch: str
    models: list[ModelEntry]
    evals: list[str]
    attacked: str
    report: str
    # Measure name → the settings the sweep gives it (None: its defaults).
    measures: dict[str, Any]
    presets: dict[str, dict[str, Any]]
    raw_models: dict[str, Any] = field(default_factory=dict)
    split_aux: bool = False
    reproduces: str = ""
    description: str = ""
    blocks: dict[str, Any] = field(default_factory=dict)  # sweep-level adversarial/output_dim
    reduction: str = "none"
    source: Path | None = None
    _merged: dict[tuple, MergedPreset] = field(default_factory=dict, repr=False, compare=False)

    # ---------------------------------------------------------------- presets
    def preset(self, name: str, overrides: list[str] | None = None) -> dict[str, Any]:
        """A preset's raw mapping with ``--set`` overrides applied and checked."""
        return self.merged(name, overrides).raw

    def merged(self, name: str, overrides: list[str] | None = None) -> MergedPreset:
        """A preset with ``--set`` applied and checked, merged with the sweep's own choices:
        worked out once per (preset, overrides) and shared by every reader."""
        key = (name, tuple(overrides or ()))
        if key not in self._merged:
            self._merged[key] = self._merge(name, list(key[1]))
        return self._merged[key]

    def _merge(self, name: str, overrides: list[str]) -> MergedPreset:
        if name not in self.presets:
            raise SweepError(
                f"sweep {self.name!r} has no preset {name!r}; choose one of {', '.join(self.presets)}"
            )
        raw = self.presets[name]
        if overrides:
            raw = apply_overrides(raw, overrides, f"presets.{name}")
            check_preset(name, raw)
        blocks = {block: raw.get(block, self.blocks.get(block)) for block in BLOCKS}
        blocks["data"], blocks["evaluation"] = with_fidelity(
            self.dataset, raw.get("fidelity", PAPER), blocks["data"], blocks["evaluation"]
        )
        return MergedPreset(
            name=name,
            raw=raw,
            seeds=tuple(raw.get("seeds", [0])),
            arch=raw.get("arch", self.arch),
            evals=tuple(raw.get("evals", self.evals)),
            measures=self._measure_settings(raw),
            blocks={k: v for k, v in blocks.items() if v is not None},
            models=self.models_of(raw),
        )

    def resolved(self, name: str, overrides: list[str] | None = None) -> dict[str, Any]:
        """The preset as a trial sees it: every block with its defaults filled in."""
        p = self.merged(name, overrides)
        out: dict[str, Any] = {
            "seeds": list(p.seeds),
            "arch": p.arch,
            "evals": list(p.evals),
            "measures": {
                measure: as_mapping(
                    parse_block(MEASURES[measure].settings, raw, f"measures.{measure}")
                )
                for measure, raw in p.measures.items()
            },
        }
        for block, cls in BLOCKS.items():
            if block in SWEEP_BLOCKS and block not in p.blocks:
                continue
            out[block] = as_mapping(
                parse_block(cls, p.blocks.get(block), f"presets.{name}.{block}")
            )
        return out

    def resources(self, preset: str, overrides: list[str] | None = None) -> ResourcesConfig:
        raw = self.merged(preset, overrides).blocks.get("resources")
        return parse_block(ResourcesConfig, raw, f"presets.{preset}.resources")

    def needs_data_root(self, preset: str) -> bool:
        data = self.merged(preset).blocks.get("data")
        return parse_block(DataConfig, data, "data").source == "real"

    # ---------------------------------------------------------------- expansion
    def expand(
        self,
        preset: str,
        tasks: list[str] | None = None,
        seeds: list[int] | None = None,
        data_root: str | None = None,
        overrides: list[str] | None = None,
        require_data: bool = True,
    ) -> list[TrialSpec]:
        """Every trial of this sweep under a preset; --tasks keeps models trained only on those.

        ``require_data=False`` expands a real-data preset without a data root (to show, count
        or look trials up): the root is not part of the trial key.
        """
        p = self.merged(preset, overrides)
        models = self._narrowed(p.models, tasks)
        seed_list = list(seeds) if seeds is not None else list(p.seeds)
        twice = sorted({s for s in seed_list if seed_list.count(s) > 1})
        if twice:
            where = "--seeds" if seeds is not None else f"presets.{preset}.seeds"
            noun = "seeds" if len(twice) > 1 else "seed"
            raise SweepError(
                f"{where}: {noun} {', '.join(map(str, twice))} listed more than once; "
                "give each seed once"
            )
        data = dict(p.blocks.get("data") or {})
        if data_root is not None:
            root = data_root if is_uri(data_root) else str(Path(data_root).expanduser().resolve())
            data = {**data, "source": "real", "root": root}  # a URI holds a packed dataset
        elif (
            data.get("source") == "real"
            and not data.get("root")
            and not data.get("packed")
            and require_data
        ):
            raise SweepError(
                f"preset {preset!r} of {self.name!r} reads real {self.dataset} data: pass "
                "--data-root DIR (or --set data.packed=DIR), or use the smoke preset (synthetic data)"
            )
        adversarial = p.blocks.get("adversarial")
        # The release's output_dim block is kept whether or not the measure runs: it is part
        # of the trial key.
        output_dim = p.blocks.get("output_dim")
        given = {"output_dim": dict(output_dim)} if output_dim else {}
        given |= {name: dict(raw) for name, raw in p.measures.items() if raw}
        specs = []
        for m in models:
            attacked = m.main if self.attacked == "main" else m.train
            tasks_attacked = [get_task(self.dataset, t) for t in attacked]
            for seed in seed_list:
                specs.append(
                    TrialSpec(
                        sweep=self.name,
                        preset=preset,
                        dataset=self.dataset,
                        arch=p.arch,
                        train_tasks=m.train,
                        main_tasks=m.main,
                        weights=m.weights(),
                        evals=tuple(e for e in p.evals if _applies(e, tasks_attacked)),
                        attacked=attacked,
                        report=m.main if self.report == "main" else m.train,
                        seed=int(seed),
                        data=data,
                        model=dict(p.blocks.get("model") or {}),
                        train=dict(p.blocks.get("train") or {}),
                        evaluation=dict(p.blocks.get("evaluation") or {}),
                        measures=tuple(p.measures),
                        adversarial=dict(adversarial) if adversarial else None,
                        measure_settings=given,
                    )
                )
        return specs

    def _measure_settings(self, preset: dict[str, Any]) -> dict[str, Any]:
        """The measures a preset runs, each with the settings given to it (None: defaults);
        the ``output_dim`` block (sweep- or preset-level) is that measure's settings unless
        ``measures`` gives them by name."""
        measures = dict(self.measures)
        if "measures" in preset:
            measures = _check_measures(preset["measures"], "measures")
        old = preset.get("output_dim", self.blocks.get("output_dim"))
        if "output_dim" in measures and measures["output_dim"] is None and old:
            measures["output_dim"] = old
        return measures

    def models_of(self, preset: dict[str, Any]) -> list[ModelEntry]:
        """The sweep's models under a preset (which may choose its own λ_a for pairs)."""
        if "aux_weight" not in preset:
            return self.models
        return _parse_models(self.dataset, self.raw_models, preset["aux_weight"], self.split_aux)

    def _narrowed(self, models: list[ModelEntry], tasks: list[str] | None) -> list[ModelEntry]:
        if not tasks:
            return models
        keep: set[str] = set()
        for spec in map(str, tasks):  # a name, a letter or the paper's letters run together
            try:
                keep |= {t.name for t in parse_tasks(self.dataset, spec)}
            except UnknownTaskError as e:
                what = f"{spec!r} is neither a task nor a run of task letters ({e})"
                raise SweepError(f"--tasks: {what if len(spec) > 1 else e}") from None
        models = [m for m in models if set(m.train) <= keep]
        if not models:
            raise SweepError(
                f"--tasks {','.join(tasks)} leaves no model of sweep {self.name!r}; "
                "name tasks that its models train (see 'mtsweep show')"
            )
        return models


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
    if path.is_dir():
        raise SweepError(f"sweep file {path} is a directory; give a YAML file")
    try:
        raw = load_yaml(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SweepError(f"cannot read sweep file {path}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SweepError(f"sweep file {path} is not valid YAML{where}; fix the syntax") from None
    try:
        return parse_sweep(raw, source=path)
    except SweepError as e:
        raise SweepError(f"{path}: {e}") from None


def _require(cond: bool, msg: str) -> None:
    if not cond:
        raise SweepError(msg)


def _task_names(dataset: str, spec: Any, what: str) -> tuple[str, ...]:
    try:
        if isinstance(spec, list):
            spec = [str(s) for s in spec]
        return tuple(t.name for t in parse_tasks(dataset, spec))
    except UnknownTaskError as e:
        raise SweepError(f"{what}: {e}") from None


def _positive(value: Any, what: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    _require(ok, f"{what}: expected a positive number, got {value!r}")
    return float(value)


def _pair_weights(dataset: str, raw: Any, where: str) -> tuple[list[float], dict[str, float]]:
    """models.pairs.aux_weight: ({default…}: one λ_a per pair) or {select: [λ…]}: candidates.

    Returns (the candidate λ_a of every pair, per-auxiliary λ_a); with ``select`` every pair
    is trained once per candidate and the reduction keeps the one that validates best.
    """
    weights = dict(raw or {})
    if "select" in weights:
        candidates = weights.pop("select")
        _require(not weights, f"{where}: 'select' takes no other keys (got {sorted(weights)})")
        _require(
            isinstance(candidates, list) and len(candidates) >= 2,
            f"{where}.select: expected a list of two or more λ_a to choose from",
        )
        return [_positive(v, f"{where}.select") for v in candidates], {}
    default = _positive(weights.pop("default", 0.01), f"{where}.default")
    by_aux = {}
    for k, v in weights.items():
        aux = _task_names(dataset, [str(k)], f"{where}.{k}")[0]
        by_aux[aux] = _positive(v, f"{where}.{k}")
    return [default], by_aux


def _parse_models(
    dataset: str, raw: Any, aux_weight: Any = None, split_aux: bool = False
) -> list[ModelEntry]:
    """The models of a sweep; a preset's ``aux_weight`` replaces models.pairs.aux_weight."""
    _require(
        isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in ("pairs", "list"),
        "models: expected a mapping with one key, 'pairs' or 'list'",
    )
    kind, body = next(iter(raw.items()))
    if kind == "pairs":
        _require(isinstance(body, dict) and "tasks" in body, "models.pairs.tasks: required")
        for key in body:
            if key not in ("tasks", "aux_weight"):
                raise unknown_key("models.pairs", str(key), ["tasks", "aux_weight"])
        names = _task_names(dataset, body["tasks"], "models.pairs.tasks")
        where = "models.pairs.aux_weight"
        candidates, by_aux = _pair_weights(
            dataset, body.get("aux_weight") if aux_weight is None else aux_weight, where
        )
        entries = [ModelEntry(train=(m,), main=(m,)) for m in names]
        entries += [
            ModelEntry(train=(m, a), main=(m,), aux_weight=by_aux.get(a, lam))
            for m in names
            for a in names
            if a != m
            for lam in candidates
        ]
        return entries
    _require(aux_weight is None, "a preset's aux_weight applies to models.pairs only")
    _require(isinstance(body, list) and body, "models.list: expected a non-empty list")
    entries = []
    for i, item in enumerate(body):
        where = f"models.list[{i}]"
        _require(isinstance(item, dict) and "train" in item, f"{where}.train: required")
        for key in item:
            if key not in ("train", "main", "aux_weight"):
                raise unknown_key(where, str(key), ["train", "main", "aux_weight"])
        train = _task_names(dataset, str(item["train"]), f"{where}.train")
        main = _task_names(dataset, str(item.get("main", item["train"])), f"{where}.main")
        _require(set(main) <= set(train), f"{where}.main: main tasks must be trained")
        aux = 0.0
        if len(main) < len(train):
            aux = _positive(item.get("aux_weight"), f"{where}.aux_weight")
        entries.append(ModelEntry(train=train, main=main, aux_weight=aux, split_aux=split_aux))
    return entries


def _applies(eval_name: str, attacked: list[Task]) -> bool:
    """Whether a model attacked on ``attacked`` gets the evaluation: a single-task one
    attacks the first (the main task, ``attacks.evaluation.attacked_tasks``), so only that
    task's kind counts; an ``_mt`` one attacks them all."""
    return applies_to(eval_name, attacked if parse_eval(eval_name).multitask else attacked[:1])


def _check_evals(evals: Any, where: str) -> list[str]:
    _require(
        isinstance(evals, list) and bool(evals), f"{where}: expected a non-empty list of names"
    )
    for e in evals:
        try:
            parse_eval(str(e))
        except ValueError as err:
            raise SweepError(f"{where}: {err}") from None
    return [str(e) for e in evals]


def _check_measures(measures: Any, where: str) -> dict[str, Any]:
    """Measure names (a list), or names with their settings (a mapping), checked against
    each measure's settings type; returns name → settings given (None: defaults)."""
    _require(
        isinstance(measures, list | dict),
        f"{where}: expected a list of measure names or a mapping of names to settings",
    )
    given = measures if isinstance(measures, dict) else dict.fromkeys(measures)
    for m, raw in given.items():
        _require(m in MEASURES, f"{where}: unknown measure {m!r}; known: {', '.join(MEASURES)}")
        parse_block(MEASURES[m].settings, raw, f"{where}.{m}")
    return dict(given)


def _check_arch(arch: Any, where: str) -> str:
    known = arch_names()
    _require(arch in known, f"{where}: unknown architecture {arch!r}; known: {', '.join(known)}")
    return str(arch)


def check_preset(name: str, p: Any) -> dict[str, Any]:
    """Refuse an unknown key or a wrong value anywhere in one preset, naming its dotted key."""
    where = f"presets.{name}"
    _require(isinstance(p, dict), f"{where}: expected a mapping")
    for key in p:
        if key not in PRESET_KEYS:
            raise unknown_key(where, str(key), list(PRESET_KEYS))
    seeds = p.get("seeds", [0])
    _require(
        isinstance(seeds, list)
        and bool(seeds)
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds),
        f"{where}.seeds: expected a non-empty list of non-negative integers, got {seeds!r}",
    )
    if "arch" in p:
        _check_arch(p["arch"], f"{where}.arch")
    _require(
        p.get("fidelity", PAPER) in FIDELITIES,
        f"{where}.fidelity: expected one of {', '.join(FIDELITIES)}, got {p.get('fidelity')!r}",
    )
    if "evals" in p:
        _check_evals(p["evals"], f"{where}.evals")
    if "measures" in p:
        _check_measures(p["measures"], f"{where}.measures")
    for block, cls in BLOCKS.items():
        if block in p:
            parse_block(cls, p[block], f"{where}.{block}")
    if "adversarial" in p:
        adv = parse_block(AdversarialConfig, p["adversarial"], f"{where}.adversarial")
        _check_evals([adv.eval], f"{where}.adversarial.eval")
    return p


def parse_sweep(raw: Any, source: Path | None = None) -> Sweep:
    """Check a sweep mapping (already parsed from YAML) and build the Sweep."""
    _require(isinstance(raw, dict), "a sweep file must be a YAML mapping")
    for key in raw:
        if key not in TOP_KEYS:
            raise unknown_key("sweep", str(key), list(TOP_KEYS))
    for key in ("name", "dataset", "arch", "models", "evals", "presets"):
        _require(key in raw, f"sweep.{key}: required key is missing")
    dataset = raw["dataset"]
    known = dataset_names()
    _require(
        dataset in known, f"sweep.dataset: unknown dataset {dataset!r}; known: {', '.join(known)}"
    )
    arch = _check_arch(raw["arch"], "sweep.arch")
    for key in ("attacked", "report"):
        _require(raw.get(key, "main") in ("main", "all"), f"sweep.{key}: expected 'main' or 'all'")
    reduction = raw.get("reduction", "none")
    _require(isinstance(reduction, str), "sweep.reduction: expected a reduction name")
    blocks = {}
    for block in SWEEP_BLOCKS:
        if raw.get(block) is not None:
            parse_block(BLOCKS[block], raw[block], f"sweep.{block}")
            blocks[block] = raw[block]
    if "adversarial" in blocks:
        _check_evals([blocks["adversarial"]["eval"]], "sweep.adversarial.eval")
    presets = raw["presets"]
    _require(isinstance(presets, dict) and bool(presets), "sweep.presets: expected a mapping")
    checked = {str(k): check_preset(str(k), v) for k, v in presets.items()}
    for pname, p in checked.items():
        split_set = (p.get("data") or {}).get("split_set")
        _require(
            split_set is None or dataset == "taskonomy",
            f"presets.{pname}.data.split_set: only Taskonomy has official split sets",
        )
    split_aux = raw.get("split_aux_weight", False)
    _require(isinstance(split_aux, bool), "sweep.split_aux_weight: expected true or false")
    models = _parse_models(dataset, raw["models"], split_aux=split_aux)
    for p in checked.values():
        if "aux_weight" in p:
            _parse_models(dataset, raw["models"], p["aux_weight"], split_aux)
    return Sweep(
        name=str(raw["name"]),
        dataset=dataset,
        arch=arch,
        models=models,
        raw_models=raw["models"],
        split_aux=split_aux,
        evals=_check_evals(raw["evals"], "sweep.evals"),
        attacked=raw.get("attacked", "main"),
        report=raw.get("report", "main"),
        measures=_check_measures(raw.get("measures", []), "sweep.measures"),
        presets=checked,
        reproduces=str(raw.get("reproduces", "")),
        description=str(raw.get("description", "")),
        blocks=blocks,
        reduction=reduction,
        source=source,
    )
