"""What a trial's worker reports it ran with (orchestrator/trial/versions.py)."""

from __future__ import annotations

from orchestrator.trial.versions import nvidia_driver


def test_the_nvidia_driver_is_read_from_either_kernel_module(tmp_path):
    proprietary = tmp_path / "proprietary"
    proprietary.write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
    )
    assert nvidia_driver(proprietary) == "535.104.05"
    open_module = tmp_path / "open"
    open_module.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  550.54.15  Release Build  "
        "(dvs-builder@U16-I3-B03-4-3)  Tue Mar  5 22:15:33 UTC 2024\n"
    )
    assert nvidia_driver(open_module) == "550.54.15"
    assert nvidia_driver(tmp_path / "absent") is None  # no NVIDIA driver on this node
