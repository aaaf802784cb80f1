"""YAML read so that ``1e-3`` is a number, as Hydra and YAML 1.2 users write it.

PyYAML resolves plain scalars by YAML 1.1, whose float needs a dot and a signed exponent
(``1.0e-3``): ``lr: 1e-3`` and ``--set train.lr=5e-4`` arrived as text and were refused.
This loader adds YAML 1.2's core-schema float (``[-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?
[0-9]+)?``) to PyYAML's safe loader and keeps everything else it resolves: ``1_000`` stays
the integer 1000 (YAML 1.1, Python and OmegaConf read it so; YAML 1.2 would make it text), and
``1e-3x`` or ``1.2.3`` stay text. A value that read as a number before reads the same now, so
no trial key moves.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# YAML 1.2 core-schema floats that YAML 1.1 reads as text: a dot or an exponent is required
# (a bare ``12`` stays an integer), the exponent's sign is optional.
FLOAT_12 = re.compile(
    r"""^[-+]?(?:
        (?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?
        |[0-9]+[eE][-+]?[0-9]+
    )$""",
    re.VERBOSE,
)


class NumberLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus the YAML 1.2 float rule."""


NumberLoader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_12, list("-+.0123456789"))


def load_yaml(text: str) -> Any:
    """``text`` parsed like ``yaml.safe_load``, with ``1e-3`` a float; raises yaml.YAMLError."""
    return yaml.load(text, Loader=NumberLoader)
