"""How mtsweep writes itself into MLflow: tag and parameter names, run names, identity rules.

Every name a run carries is defined here and nowhere else, so the writer (``Tracker``), the
read view (``Snapshot``) and the CLI agree on them; the CLI reads runs only through
``TrialRecord``'s fields, never through raw tags. Pure functions and data: no MLflow client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sweeps.spec import TrialSpec

TAG = "mtsweep."
TRIAL_KEY = f"{TAG}trial_key"
MODEL_KEY = f"{TAG}model_key"
SWEEP = f"{TAG}sweep"
PRESET = f"{TAG}preset"
ROLE = f"{TAG}role"  # "sweep" on the sweep's own (parent) run
SWEEP_ROLE = "sweep"
SUPERSEDED = f"{TAG}superseded"  # set on a trial's old run when --rerun replaces it
ERROR = f"{TAG}error"  # a failed trial's one-line error ('' once it succeeds)
EPOCH = f"{TAG}epoch"  # "i/N" while a trial trains
NODE = f"{TAG}node"  # the Ray node a trial runs on
HOST = f"{TAG}host"  # the worker's host name (runs of release 0.1.0)
WORKER = f"{TAG}worker."  # + python, mtsweep, commit, torch, ray, mlflow, cuda, gpu, nvidia_driver
SUMMARY = f"{TAG}summary"  # the reduction's summary line, on the sweep's run
VERSION_TAG = f"{TAG}version"  # the mtsweep package version that recorded a run
DATA_TAG = f"{TAG}data_fingerprint"  # data_root=fingerprint of each real data root
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own tag: the UI links it
PARENT = "mlflow.parentRunId"  # nests trial runs under the sweep's run in the UI
RUN_NAME = "mlflow.runName"
ERROR_FILE = "error.txt"  # a failed trial's full traceback, as a run artifact
RESULTS_DIR = "results"  # the reduction's files, under the sweep's run
REQUEST_DIR = "request"  # the request, overrides and resolved preset, under the sweep's run
PARAM_LIMIT = 5000  # longest value MLflow takes for a param (older servers: 500)


def experiment_name(sweep: str, preset: str) -> str:
    return f"{sweep}/{preset}"


def run_name(spec: TrialSpec) -> str:
    """The run's name in the UI: the model's label, with λ_a where the model has auxiliaries."""
    aux = [spec.weights[t] for t in spec.aux_tasks]
    lam = f" λ={','.join(f'{w:g}' for w in aux)}" if aux else ""
    return f"{spec.label}{lam}"


def trial_tags(spec: TrialSpec) -> dict[str, str]:
    """What identifies a trial's run: written at its start and again with its result."""
    return {
        SWEEP: spec.sweep,
        PRESET: spec.preset,
        TRIAL_KEY: spec.trial_key,
        MODEL_KEY: spec.model_key,
        f"{TAG}arch": spec.arch,
        f"{TAG}main_task": "+".join(spec.main_tasks),
        f"{TAG}aux_tasks": "+".join(spec.aux_tasks),
        f"{TAG}weights": json.dumps(spec.weights, sort_keys=True),
        f"{TAG}seed": str(spec.seed),
        RUN_NAME: run_name(spec),
    }


def flat_params(prefix: str, mapping: dict[str, Any]) -> dict[str, str]:
    """``{"a": {"b": 1}}`` → ``{"prefix.a.b": "1"}``: MLflow params are flat strings."""
    out: dict[str, str] = {}
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flat_params(name, value))
        else:
            out[name] = str(value)[:PARAM_LIMIT]
    return out


def resolved_blocks(spec: TrialSpec) -> dict[str, dict[str, Any]]:
    """The trial's blocks with every default filled in (momentum, convention, …); each
    measure's settings as ``measure.<name>``."""
    from sweeps.presets import as_mapping  # torch: not for the reading commands

    config = spec.config
    out = {
        "data": as_mapping(config.data),
        "model": as_mapping(config.model),
        "train": as_mapping(config.train),
        "evaluation": as_mapping(config.evaluation),
    }
    if config.adversarial is not None:
        out["adversarial"] = as_mapping(config.adversarial)
    for name, settings in config.measures.items():
        values = as_mapping(settings)
        if values:
            out[f"measure.{name}"] = values
    return out


def trial_params(spec: TrialSpec) -> dict[str, str]:
    """Every setting the trial ran with, so runs compare column by column in the UI."""
    params = {
        "dataset": spec.dataset,
        "arch": spec.arch,
        "train_tasks": "+".join(spec.train_tasks),
        "main_tasks": "+".join(spec.main_tasks),
        "evals": ",".join(spec.evals),
        "attacked": "+".join(spec.attacked),
        "measures": ",".join(spec.measures),
        "seed": str(spec.seed),
        "model_key": spec.model_key,
    }
    params.update({f"weight.{k}": str(v) for k, v in spec.weights.items()})
    for block, values in resolved_blocks(spec).items():
        params.update(flat_params(block, values))
    return {k: v[:PARAM_LIMIT] for k, v in params.items()}


def sweep_tags(sweep: str, preset: str) -> dict[str, str]:
    return {ROLE: SWEEP_ROLE, SWEEP: sweep, PRESET: preset, RUN_NAME: f"{sweep}/{preset}"}


@dataclass
class TrialRecord:
    """What a trial's run holds, read once: the CLI's and the checks' only view of a run."""

    run_id: str
    status: str  # MLflow's: RUNNING, FINISHED, FAILED, KILLED, SCHEDULED
    start_ms: int = 0
    end_ms: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, run: Any) -> TrialRecord:
        return cls(
            run_id=run.info.run_id,
            status=run.info.status,
            start_ms=int(run.info.start_time or 0),
            end_ms=run.info.end_time,
            tags=dict(run.data.tags),
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
        )

    @property
    def finished(self) -> bool:
        return self.status == "FINISHED"

    @property
    def error(self) -> str:
        return self.tags.get(ERROR, "")

    @property
    def epoch(self) -> str | None:
        return self.tags.get(EPOCH)

    @property
    def node(self) -> str:
        """The node the trial runs (ran) on; '?' when nothing reported one yet."""
        return self.tags.get(NODE) or self.tags.get(HOST) or "?"

    @property
    def worker_versions(self) -> dict[str, str]:
        """What the trial's worker ran with (``orchestrator.trial.versions``), by name."""
        return {k.removeprefix(WORKER): v for k, v in self.tags.items() if k.startswith(WORKER)}

    def identity(self, key: str) -> dict[str, Any]:
        """The run's model identity for the trials table (release 0.1.0 runs: from params)."""
        import pandas as pd

        tags, params = self.tags, self.params
        weights = tags.get(f"{TAG}weights")
        if weights is None:
            weights = json.dumps(
                {
                    k.removeprefix("weight."): float(v)
                    for k, v in params.items()
                    if k.startswith("weight.")
                },
                sort_keys=True,
            )
        return {
            "sweep": tags.get(SWEEP, ""),
            "preset": tags.get(PRESET, ""),
            "trial_key": key,
            "model_key": tags.get(MODEL_KEY, params.get("model_key", "")),
            "run_id": self.run_id,
            "arch": tags.get(f"{TAG}arch", params.get("arch", "")),
            "main_task": tags.get(f"{TAG}main_task", ""),
            "aux_tasks": tags.get(f"{TAG}aux_tasks", ""),
            "weights": weights,
            "seed": int(tags.get(f"{TAG}seed", 0)),
            "start_time": pd.Timestamp(self.start_ms, unit="ms", tz="UTC"),
            "end_time": pd.Timestamp(self.end_ms or self.start_ms, unit="ms", tz="UTC"),
        }

    def final_metrics(self) -> list[tuple[str, str, str, float]]:
        """(eval, task, metric, value) of every evaluated metric (not train/ nor time/)."""
        out = []
        for name, value in self.metrics.items():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] not in ("train", "time"):
                out.append((parts[0], parts[1], parts[2], float(value)))
        return out
