"""``prepare`` packs a sweep's data; trials train on it exactly as on the PNG files."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading

import pytest
import torch
from torch.utils.data import DataLoader

from models import build_model
from mtsweep.shared_storage import SharedStorage
from orchestrator.cli import main
from orchestrator.sweep.estimate import split_counts
from orchestrator.sweep.plan import Request, make_plan
from orchestrator.sweep.preflight import check_data, real_data_fingerprints
from orchestrator.sweep.prepare import prepare
from orchestrator.trial.data import data_uses, ensure_data, open_split
from orchestrator.trial.training import EpochBatches, train_model
from sweeps.presets import DataConfig, TrainConfig, parse_block
from tasks.datasets import get_dataset
from tasks.packed.manifest import MANIFEST, PackedError, packed_fingerprint, read_manifest
from tasks.packed.read import PackedSplit
from tasks.registry import parse_tasks
from tests.helpers.mlflow_runs import runs_of
from tests.helpers.sweep_files import TINY_SWEEP

# Whole sweeps or scripts in their own processes: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

TASKS = parse_tasks("taskonomy", "sd")
WEIGHTS = {"segment_semantic": 1.0, "depth_zbuffer": 0.01}
AT_16 = ["--set", "data.image_size=16"]  # the files' own size
CFG = TrainConfig(epochs=3, batch_size=4, optimizer="adam", lr=3e-3)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("taskonomy")
    get_dataset("taskonomy").write_synthetic(root, n=20, size=16, seed=1)
    return root


@pytest.fixture(scope="module")
def packed(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("p") / "packed"
    args = ["prepare", str(TINY_SWEEP), "--data-root", str(source), "--to", str(out), *AT_16]
    assert main(args) == 0
    return out


def data_of(root, **kw) -> DataConfig:
    request = Request(
        sweep=str(TINY_SWEEP), data_root=str(root), overrides=tuple(AT_16[1::2]), tasks=("s", "d")
    )
    spec = make_plan(request).specs[0]
    return dataclasses.replace(parse_block(DataConfig, spec.data, "data"), **kw)


def train(train_set, tmp_path, workers=0):
    torch.manual_seed(0)
    model = build_model("resnet18", TASKS, width=8)
    out = train_model(
        model,
        TASKS,
        WEIGHTS,
        train_set,
        CFG,
        tmp_path,
        torch.device("cpu"),
        0,
        loader_workers=workers,
    )
    return out.history


def test_training_on_the_packed_data_equals_training_on_the_pngs(source, packed, tmp_path):
    png = open_split("taskonomy", source, data_of(source), TASKS, "train")
    data = data_of(packed)
    fast = open_split("taskonomy", ensure_data("taskonomy", data), data, TASKS, "train")
    assert isinstance(fast, PackedSplit) and not isinstance(png, PackedSplit)
    # 16-px files trained at 16 px: the images are 8-bit values, so the batches are equal
    expected = train(png, tmp_path / "png")
    assert train(fast, tmp_path / "packed") == expected
    assert train(fast, tmp_path / "workers", workers=1) == expected


def test_epoch_order_is_the_shuffled_dataloaders(tmp_path):
    for n, batch in [(23, 4), (3, 4), (16, 4)]:
        for epoch in (0, 5):
            sampler = EpochBatches(n, batch, seed=2)
            sampler.set_epoch(epoch)
            g = torch.Generator().manual_seed(2 * 100_003 + epoch)
            plain = DataLoader(
                range(n), batch_size=batch, shuffle=True, generator=g, drop_last=n > batch
            )
            assert list(sampler) == [b.tolist() for b in plain]


def test_the_preset_key_and_the_source_fingerprint(source, packed, tmp_path):
    data = data_of(source, packed=str(packed))  # data.packed, with the source as root
    assert ensure_data("taskonomy", data) == packed
    split = open_split("taskonomy", packed, data, TASKS, "val")
    assert len(split) > 0
    other = tmp_path / "other"
    get_dataset("taskonomy").write_synthetic(other, n=20, size=16, seed=2)
    with pytest.raises(PackedError, match="which differs from"):
        open_split("taskonomy", packed, data_of(other, packed=str(packed)), TASKS, "train")


def test_a_mismatch_is_refused_in_one_line(source, packed, tmp_path, capsys):
    data = data_of(packed, image_size=8)
    with pytest.raises(PackedError, match="size 16 .*at size 8"):
        open_split("taskonomy", packed, data, TASKS, "train")
    with pytest.raises(PackedError, match="lacks tasks edge_texture"):
        open_split("taskonomy", packed, data_of(packed), parse_tasks("taskonomy", "e"), "val")
    code = main(  # the old spelling, --out PACKED, still names the packed directory
        ["prepare", str(TINY_SWEEP), "--data-root", str(source), "--out", str(packed)]
        + ["--set", "data.image_size=8"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "already holds another packed dataset" in err


def test_prepare_packs_the_union_of_the_sweeps_tasks_and_splits(source, tmp_path):
    request = Request(sweep=str(TINY_SWEEP), data_root=str(source), overrides=tuple(AT_16[1::2]))
    manifest = prepare(make_plan(request), tmp_path / "p", workers=2, chunk_size=4)
    assert manifest["tasks"] == ["depth_zbuffer", "normal", "segment_semantic"]
    assert sorted(manifest["splits"]) == ["train", "val"]


# The paper preset cut to test size: one model (depth alone), one epoch, 16-px files as they are.
PAPER_TINY = ["--preset", "paper", "--tasks", "d"] + [
    arg
    for setting in (
        "data.image_size=16",
        "model.width=8",
        "train.epochs=1",
        "train.batch_size=8",
        "evaluation.n_images=4",
        "evaluation.batch_size=4",
    )
    for arg in ("--set", setting)
]


def test_prepare_then_run_the_paper_preset_on_the_packed_data(source, tmp_path, ray_local):
    """The README's paper-scale path through the CLI: a packed --data-root, or data.packed
    beside the source root; pre-flight and the trial both read the packed copy."""
    packed = tmp_path / "packed"
    prepare_args = ["prepare", str(TINY_SWEEP), "--data-root", str(source), *PAPER_TINY]
    assert main([*prepare_args, "--out", str(packed)]) == 0
    spellings = {
        "packed-root": ["--data-root", str(packed)],
        "beside-source": ["--data-root", str(source), "--set", f"data.packed={packed}"],
    }
    metrics = {}
    for name, where in spellings.items():
        out = tmp_path / name
        argv = ["run", str(TINY_SWEEP), *where, *PAPER_TINY, "--out", str(out), "--no-reduce"]
        assert main(argv) == 0, name
        (run,) = runs_of(f"sqlite:///{out / 'mlflow.db'}", "tiny-pairs/paper")
        assert run.info.status == "FINISHED"
        metrics[name] = run.data.metrics
    assert "pgd3_eps4/depth_zbuffer/l1" in metrics["packed-root"]
    trained = {k: v for k, v in metrics["packed-root"].items() if not k.startswith("time/")}
    assert trained == {k: metrics["beside-source"][k] for k in trained}


# --------------------------------------------------------------------------- object storage


@pytest.fixture
def published(source, packed, s3_bucket):
    """The tiny packed dataset, prepared straight to a bucket on the test S3 server."""
    uri = f"{s3_bucket}/taskonomy-packed"
    args = ["prepare", str(TINY_SWEEP), "--data-root", str(source), "--to", uri, *AT_16]
    assert main(args) == 0
    return uri


def test_prepare_to_a_bucket_publishes_the_packed_files_whole(source, packed, published, capsys):
    bucket = SharedStorage(published)
    manifest = json.loads(bucket.read_bytes(MANIFEST))
    assert manifest == read_manifest(packed)  # the same dataset as packed to a directory
    assert bucket.keys() == sorted([*manifest["files"], MANIFEST])
    for name in manifest["files"]:
        assert bucket.read_bytes(name) == (packed / name).read_bytes(), name

    # An upload that stopped before its manifest is not a dataset, and is uploaded again.
    image = manifest["splits"]["train"]["arrays"]["image"]["file"]
    bucket.write_bytes(image, b"half an upload")
    bucket.delete(MANIFEST)
    with pytest.raises(PackedError, match="holds no packed dataset"):
        ensure_data("taskonomy", data_of(published))
    prepare = ["prepare", str(TINY_SWEEP), "--data-root", str(source)]
    assert main([*prepare, "--to", published, *AT_16]) == 0
    assert bucket.read_bytes(image) == (packed / image).read_bytes()

    capsys.readouterr()
    code = main([*prepare, "--to", published, "--set", "data.image_size=8"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "already holds another packed dataset" in err

    code = main([*prepare, "--to", "s3://no-such-bucket-mtsweep/packed"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot be written" in err


def test_trials_on_a_node_share_one_verified_copy_of_the_bucket(
    packed, published, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("MTSWEEP_CACHE", str(tmp_path / "node"))  # a node that never prepared
    data = data_of(published)
    plan = make_plan(
        Request(sweep=str(TINY_SWEEP), data_root=published, overrides=tuple(AT_16[1::2]))
    )
    check_data(plan)  # pre-flight, estimate and the recorded fingerprint read the manifest only
    assert real_data_fingerprints(plan) == {published: packed_fingerprint(read_manifest(packed))}
    (use,) = data_uses(plan.specs)
    counts = {s: n for s, (n, _) in split_counts(use).items()}
    assert counts == {s: v["count"] for s, v in read_manifest(packed)["splits"].items()}
    assert not (tmp_path / "node").exists()

    n = 4
    start, paths = threading.Barrier(n), []

    def trial():
        start.wait()
        paths.append(ensure_data("taskonomy", data))

    with caplog.at_level(logging.INFO, logger="tasks.packed.remote"):
        threads = [threading.Thread(target=trial) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    copied = [r for r in caplog.records if "copied" in r.getMessage()]
    assert len(paths) == n and len(set(paths)) == 1 and len(copied) == 1
    (copy,) = set(paths)
    assert copy.parent == tmp_path / "node" / "packed"
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name, f"{copy.name}.lock"]

    for split in ("train", "val"):
        remote = open_split("taskonomy", copy, data, TASKS, split)
        local = open_split("taskonomy", packed, data_of(packed), TASKS, split)
        assert isinstance(remote, PackedSplit) and len(remote) == len(local) > 0
        for i in range(len(local)):
            a, b = remote[i], local[i]
            assert a["id"] == b["id"] and torch.equal(a["image"], b["image"])
            for task in ("segment_semantic", "depth_zbuffer"):
                assert torch.equal(a["targets"][task], b["targets"][task])
                assert torch.equal(a["masks"][task], b["masks"][task])


def test_a_garbled_object_or_a_missing_manifest_is_refused(published, tmp_path, monkeypatch):
    monkeypatch.setenv("MTSWEEP_CACHE", str(tmp_path / "node"))
    bucket = SharedStorage(published)
    ids = "val/ids.json"
    bucket.write_bytes(ids, bucket.read_bytes(ids).replace(b"[", b"[ ", 1))  # one byte more
    with pytest.raises(PackedError, match="val/ids.json is not the file its manifest lists"):
        ensure_data("taskonomy", data_of(published))
    assert [p.suffix for p in (tmp_path / "node" / "packed").iterdir()] == [".lock"]

    bucket.delete(MANIFEST)
    plan = make_plan(
        Request(sweep=str(TINY_SWEEP), data_root=published, overrides=tuple(AT_16[1::2]))
    )
    with pytest.raises(PackedError, match=f"^{published} holds no packed dataset") as e:
        check_data(plan)
    assert "\n" not in str(e.value)
