"""requirements.lock pins every dependency pyproject.toml declares, and it is what is installed.

A stale lock (a dependency added to pyproject.toml but not re-locked, or a pin outside the
declared range) would let two nodes of a cluster resolve different versions; `make lock`
regenerates it.
"""

from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"requirements.lock: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = pinned
    return pins


def declared() -> list[Requirement]:
    """The project's own requirements and its test extra, from the installed metadata."""
    out = []
    for text in requires("mtsweep") or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": "test"}):
            out.append(req)
    return out


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = locked()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared but not locked: run 'make lock'"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} is outside the declared {req.specifier}"
        )


def test_installed_versions_are_the_locked_ones():
    pins = locked()
    for req in declared():
        try:
            installed = version(req.name)
        except PackageNotFoundError:
            raise AssertionError(f"{req.name} is declared but not installed") from None
        assert installed == pins[canonicalize_name(req.name)], (
            f"{req.name} {installed} is installed, the lock says {pins[canonicalize_name(req.name)]}"
        )
