"""Fixtures of the attack tests: a briefly trained and a random tiny multitask net."""

from __future__ import annotations

import pytest

from tests.attacks.tinymodels import TinyNet, train


@pytest.fixture(scope="session")
def trained_net() -> TinyNet:
    return train(TinyNet())


@pytest.fixture
def random_net() -> TinyNet:
    return TinyNet(seed=1).eval()
