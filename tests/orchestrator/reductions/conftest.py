"""The trials table the reduction tests share."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers.trial_tables import fig7_rows


@pytest.fixture
def fig7_trials() -> pd.DataFrame:
    """A trials table as exported before the model-identity columns existed."""
    return pd.DataFrame(fig7_rows())
