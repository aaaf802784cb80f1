"""The ResNet-50 Taskonomy network: torchvision's trunk, every task's head, a trial on it,
and ``--set arch=resnet50`` on every Taskonomy sweep."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.models import resnet50 as torchvision_resnet50

from models import WeightsError, arch_names, build_model
from models.resnet50_taskonomy import ResNet50Encoder
from orchestrator.trial.run import run_trial
from sweeps.definition import builtin_names, load_sweep
from tasks.registry import tasks_of

torch.set_num_threads(2)

TASKONOMY = tasks_of("taskonomy")


def test_resnet50_is_registered():
    assert "resnet50" in arch_names()


def test_every_taskonomy_task_gets_its_channels_at_32_px():
    model = build_model("resnet50", TASKONOMY, width=8).eval()
    out = model(torch.rand(2, 3, 32, 32))
    assert set(out) == {t.name for t in TASKONOMY}
    for t in TASKONOMY:
        assert out[t.name].shape == (2, t.channels, 32, 32)
        assert torch.isfinite(out[t.name]).all()


def test_published_width_is_torchvisions_resnet50_trunk():
    ours = ResNet50Encoder()
    reference = torchvision_resnet50(weights=None)
    expected = [
        tuple(v.shape) for k, v in reference.state_dict().items() if not k.startswith("fc.")
    ]
    assert [tuple(v.shape) for v in ours.state_dict().values()] == expected
    assert ours.out_channels == 2048
    # Output stride 32, as the ResNet-18 encoder: five ×2 decoder stages restore the size.
    assert ours.eval()(torch.rand(1, 3, 64, 64)).shape == (1, 2048, 2, 2)


def test_decoders_read_the_encoders_width():
    model = build_model("resnet50", TASKONOMY[:2], width=16)
    assert model.encoder.out_channels == 4 * 128  # 512 · 16/64 channels, ×4 expansion
    for decoder in model.decoders.values():
        assert decoder[0][0].in_channels == model.encoder.out_channels


def test_it_has_no_published_weights():
    with pytest.raises(WeightsError, match="resnet50"):
        build_model("resnet50", TASKONOMY[:1], width=8, init_from="weights.pth")


@pytest.mark.parametrize(
    "name", [n for n in builtin_names() if load_sweep(n).dataset == "taskonomy"]
)
def test_set_arch_resnet50_works_on_every_taskonomy_sweep(name):
    sweep = load_sweep(name)
    for preset in sweep.presets:
        default = sweep.expand(preset, require_data=False)
        other = sweep.expand(preset, overrides=["arch=resnet50"], require_data=False)
        assert {s.arch for s in other} == {"resnet50"}
        assert len(other) == len(default)
        # A new encoder is a new model, never a resumed ResNet-18 checkpoint.
        assert not {s.model_key for s in other} & {s.model_key for s in default}


def test_a_trial_trains_and_is_attacked_on_resnet50(tmp_path):
    sweep = load_sweep("taskonomy-pairs")
    overrides = [
        "arch=resnet50",
        "data.n=8",
        "train.epochs=2",
        "train.batch_size=4",
        "evaluation.n_images=4",
        "evals=[clean, pgd2_eps4]",
    ]
    (spec,) = [
        s
        for s in sweep.expand("smoke", tasks=["s", "d"], overrides=overrides)
        if s.main_tasks == ("depth_zbuffer",) and s.aux_tasks
    ]
    result = run_trial(spec, tmp_path, threads=2)
    assert len(result.train_loss) == 2
    assert all(math.isfinite(loss) for loss in result.train_loss)
    clean = result.metrics["clean/depth_zbuffer/l1"]
    attacked = result.metrics["pgd2_eps4/depth_zbuffer/l1"]
    assert 0.0 < clean < attacked  # the attack raises the main task's error
    assert (tmp_path / "checkpoints" / spec.model_key).is_dir()
