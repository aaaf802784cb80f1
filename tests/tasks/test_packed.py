"""The packed dataset gives the PNG readers' samples, resumes when killed, refuses a mismatch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tasks.datasets import get_dataset
from tasks.packed.manifest import MANIFEST, PROGRESS, PackedError, check_manifest, read_manifest
from tasks.packed.read import PackedSplit
from tasks.packed.write import pack, run_in_process
from tasks.registry import parse_tasks

TASKONOMY = parse_tasks("taskonomy", "sdnA")  # class ids, depth mask, 3 channels, derived
CITYSCAPES = parse_tasks("cityscapes", "sdA")


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("src")
    get_dataset("taskonomy").write_synthetic(root / "taskonomy", n=12, size=32, seed=0)
    get_dataset("cityscapes").write_synthetic(root / "cityscapes", n=8, size=16, seed=0)
    return root


def readers(dataset, root, tasks, size, splits=("train", "val")):
    kind = get_dataset(dataset)
    return {s: kind.reader(root, tasks, split=s, size=size, cache=False) for s in splits}


def packed(tmp_path, dataset, source, tasks, size, **kw):
    out = tmp_path / "packed"
    pack(
        out,
        readers(dataset, source, tasks, size),
        dataset=dataset,
        tasks=tasks,
        size=size,
        source=source,
        chunk_size=3,
        **kw,
    )
    return out


def assert_same_samples(out, dataset, source, tasks, size, image_tol=0.0, target_rtol=0.0):
    for split, reader in readers(dataset, source, tasks, size).items():
        split_set = PackedSplit(out, split, tasks)
        assert len(split_set) == len(reader) > 0
        for i in range(len(reader)):
            a, b = reader[i], split_set[i]
            assert a["id"] == b["id"]
            assert b["image"].dtype == torch.float32
            assert (a["image"] - b["image"]).abs().max() <= image_tol
            for task in tasks:
                ta, tb = a["targets"][task.name], b["targets"][task.name]
                assert ta.dtype == tb.dtype and ta.shape == tb.shape, task.name
                if target_rtol:
                    torch.testing.assert_close(tb, ta, rtol=target_rtol, atol=1e-6)
                elif task.target_is_input:
                    assert (ta - tb).abs().max() <= image_tol
                else:
                    assert torch.equal(ta, tb), task.name
                assert torch.equal(a["masks"][task.name], b["masks"][task.name]), task.name


@pytest.mark.parametrize(
    ("dataset", "tasks", "size"), [("taskonomy", TASKONOMY, 32), ("cityscapes", CITYSCAPES, 16)]
)
def test_packed_samples_equal_the_readers_at_file_size(sources, tmp_path, dataset, tasks, size):
    source = sources / dataset
    out = packed(tmp_path, dataset, source, tasks, size)
    assert_same_samples(out, dataset, source, tasks, size)  # 8-bit images: bit-identical
    image = np.load(out / "train" / "image.npy", mmap_mode="r")
    assert image.dtype == np.uint8 and isinstance(image, np.memmap)
    assert not (out / PROGRESS).exists()


def test_resized_images_are_rounded_to_8_bits_and_targets_kept(sources, tmp_path):
    source = sources / "taskonomy"
    out = packed(tmp_path, "taskonomy", source, TASKONOMY, 16)
    assert_same_samples(out, "taskonomy", source, TASKONOMY, 16, image_tol=0.5 / 255 + 1e-6)


def test_float16_targets_within_half_precision(sources, tmp_path):
    source = sources / "taskonomy"
    out = packed(tmp_path, "taskonomy", source, TASKONOMY, 32, target_dtype="float16")
    assert np.load(out / "train" / "target.normal.npy", mmap_mode="r").dtype == np.float16
    assert_same_samples(out, "taskonomy", source, TASKONOMY, 32, target_rtol=2**-11)


def test_quantised_batches_finish_into_the_same_batch(sources, tmp_path):
    source = sources / "taskonomy"
    out = packed(tmp_path, "taskonomy", source, TASKONOMY, 32)
    split = PackedSplit(out, "train", TASKONOMY)
    raw = split.quantised()[[4, 0, 2]]
    assert raw["image"].dtype == torch.uint8 and raw["image"].shape == (3, 3, 32, 32)
    assert "autoencoder" not in raw["targets"]  # computed on the device, not stored
    batch = split.finish(raw)
    for j, i in enumerate([4, 0, 2]):
        one = split[i]
        assert torch.equal(batch["image"][j], one["image"])
        for name, target in one["targets"].items():
            assert torch.equal(batch["targets"][name][j], target), name
            assert torch.equal(batch["masks"][name][j], one["masks"][name]), name


class Killed(Exception):
    pass


def test_a_killed_pack_resumes_where_it_stopped(sources, tmp_path):
    source = sources / "taskonomy"
    out = tmp_path / "packed"
    args = dict(dataset="taskonomy", tasks=TASKONOMY, size=32, source=source, chunk_size=2)

    def killed_after(n):
        def runner(path):
            def run(jobs):
                for k, chunk in enumerate(run_in_process(path)(jobs)):
                    if k == n:
                        raise Killed  # chunk n is written but not recorded: redone
                    yield chunk

            return run

        return runner

    with pytest.raises(Killed):
        pack(out, readers("taskonomy", source, TASKONOMY, 32), runner=killed_after(3), **args)
    assert not (out / MANIFEST).exists()
    with pytest.raises(PackedError, match="interrupted: run it again"):
        read_manifest(out)
    done = json.loads((out / PROGRESS).read_text())["done"]
    assert sum(len(v) for v in done.values()) == 3

    given = []

    def counting(path):
        def run(jobs):
            given.extend(c for c, _, _ in jobs)
            yield from run_in_process(path)(jobs)

        return run

    pack(out, readers("taskonomy", source, TASKONOMY, 32), runner=counting, **args)
    total = sum(-(-len(r) // 2) for r in readers("taskonomy", source, TASKONOMY, 32).values())
    assert len(given) == total - 3  # only the chunks not yet recorded
    assert_same_samples(out, "taskonomy", source, TASKONOMY, 32)
    given.clear()
    pack(out, readers("taskonomy", source, TASKONOMY, 32), runner=counting, **args)
    assert given == []  # complete: nothing to do


def test_a_mismatched_manifest_is_refused_in_one_line(sources, tmp_path):
    source = sources / "taskonomy"
    out = packed(tmp_path, "taskonomy", source, parse_tasks("taskonomy", "sd"), 32)
    manifest = read_manifest(out)
    ok = dict(where=out, dataset="taskonomy", size=32)
    check_manifest(manifest, tasks=parse_tasks("taskonomy", "d"), source=source, **ok)
    cases = [
        (dict(tasks=parse_tasks("taskonomy", "sn")), "lacks tasks normal"),
        (dict(tasks=parse_tasks("taskonomy", "d"), size=16), "size 32 .* at size 16"),
        (
            dict(tasks=parse_tasks("taskonomy", "d", convention="taskonomy")),
            "convention 'standley'.* 'taskonomy'",
        ),
        (dict(tasks=parse_tasks("taskonomy", "d"), split="test"), "no test split"),
        (dict(tasks=parse_tasks("taskonomy", "d"), dataset="cityscapes"), "holds taskonomy"),
    ]
    for changes, message in cases:
        with pytest.raises(PackedError, match=message) as err:
            check_manifest(manifest, **{**ok, **changes})
        assert "\n" not in str(err.value) and "mtsweep prepare" in str(err.value)
    (source / "extra.txt").write_text("a file the packed data never saw")
    try:
        with pytest.raises(PackedError, match="differs from"):
            check_manifest(manifest, tasks=parse_tasks("taskonomy", "d"), source=source, **ok)
    finally:
        (source / "extra.txt").unlink()
    with pytest.raises(PackedError, match="already holds another packed dataset"):
        packed(tmp_path, "taskonomy", source, TASKONOMY, 16)
