"""Taskonomy's "tiny" split (35 buildings), as published in the dataset's split files.

The paper trains on the tiny split; readers select buildings by split name from here.
"""

TINY: dict[str, tuple[str, ...]] = {
    "train": (
        "allensville",
        "beechwood",
        "benevolence",
        "coffeen",
        "cosmos",
        "forkland",
        "hanson",
        "hiteman",
        "klickitat",
        "lakeville",
        "leonardo",
        "lindenwood",
        "marstons",
        "merom",
        "mifflinburg",
        "newfields",
        "onaga",
        "pinesdale",
        "pomaria",
        "ranchester",
        "shelbyville",
        "stockman",
        "tolstoy",
        "wainscott",
        "woodbine",
    ),
    "val": ("collierville", "corozal", "darden", "markleeville", "wiconisco"),
    "test": ("ihlen", "mcdade", "muleshoe", "noxapater", "uvalda"),
}

SPLITS = {"tiny": TINY}


def buildings(part: str, split_set: str = "tiny") -> tuple[str, ...]:
    """The buildings of one part (train/val/test) of a named split set."""
    try:
        return SPLITS[split_set][part]
    except KeyError:
        raise KeyError(f"unknown Taskonomy split {split_set!r}/{part!r}") from None
