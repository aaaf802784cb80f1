"""Step costs counted on the meta device equal the real model's, and scale as they must."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from models import MultiTaskLoss, build_model
from orchestrator.sweep.accelerators import GIB, get_accelerator
from orchestrator.trial.step_cost import count_steps
from tasks.errors import MtsweepError
from tasks.registry import get_task

TASKS = [get_task("taskonomy", "segment_semantic"), get_task("taskonomy", "normal")]
WEIGHTS = {"segment_semantic": 1.0, "normal": 0.1}


def cost(batch: int = 2, **kw):
    kw = {
        "width": 8,
        "train_size": 32,
        "eval_size": 32,
        "train_batch": batch,
        "eval_batch": batch,
    } | kw
    return count_steps("resnet18", TASKS, WEIGHTS, TASKS[:1], **kw)


def real_train_flops(batch: int) -> float:
    """The same training step on real CPU tensors, counted by the same counter."""
    torch.manual_seed(0)
    model = build_model("resnet18", TASKS, width=8)
    x = torch.rand(batch, 3, 32, 32)
    targets = {
        "segment_semantic": torch.randint(0, 18, (batch, 1, 32, 32)),
        "normal": torch.rand(batch, 3, 32, 32),
    }
    with FlopCounterMode(display=False) as counter:
        loss, _ = MultiTaskLoss(TASKS, WEIGHTS)(model(x), targets, {})
        loss.backward()
    return float(counter.get_total_flops())


def test_meta_count_equals_the_real_models():
    assert cost(batch=2).train_flops == real_train_flops(2)


def test_work_is_linear_in_the_batch_and_ordered_by_kind():
    one, four = cost(batch=2), cost(batch=8)
    assert four.train_flops == pytest.approx(4 * one.train_flops, rel=1e-6)
    assert four.forward_flops == pytest.approx(4 * one.forward_flops, rel=1e-6)
    # an attack step is a forward and an input gradient: more than a forward, less than
    # a training step (which also takes the weights' gradients)
    assert one.forward_flops < one.attack_flops < one.train_flops
    assert four.train_bytes > one.train_bytes and four.eval_bytes > one.eval_bytes


def test_adversarial_training_adds_its_attack_steps():
    plain, adversarial = cost(batch=2), cost(batch=2, adversarial_steps=3)
    extra = adversarial.train_flops - plain.train_flops
    assert extra == pytest.approx(3 * plain.attack_flops, rel=1e-6)  # eval batch = train batch


def test_bf16_halves_the_saved_activations_not_the_work():
    fp32, bf16 = cost(batch=4), cost(batch=4, amp=True)
    assert bf16.train_flops == fp32.train_flops
    assert bf16.train_bytes < fp32.train_bytes


def test_seconds_and_sharing_follow_the_datasheet():
    h100 = get_accelerator("H100")
    assert h100.seconds(989.4e12 * 0.5, amp=True, efficiency=0.5) == pytest.approx(1.0)
    assert h100.seconds(494.7e12, amp=False, efficiency=1.0) == pytest.approx(1.0)
    assert h100.trials_per_device(int(100 * GIB)) == 0  # does not fit at all
    assert h100.trials_per_device(int(30 * GIB)) == 2  # 80 GiB × 0.85 usable
    assert h100.trials_per_device(1) == 8  # capped: more would only take turns


def test_unknown_device_names_the_nearest():
    with pytest.raises(MtsweepError, match="did you mean 'h100'"):
        get_accelerator("h10")
