"""The one registry idiom: register where defined, look up by name, refuse with a guess."""

from __future__ import annotations

import pytest

from mtsweep.errors import MtsweepError
from mtsweep.registry import Registry, UnknownNameError


def test_register_get_names_in_registration_order():
    shapes: Registry[int] = Registry("shape")
    assert shapes.register("square", 4) == 4

    @shapes.register("triangle")
    def triangle() -> int:
        return 3

    assert shapes.names() == ("square", "triangle") == tuple(shapes)
    assert shapes.get("triangle") is triangle and shapes["square"] == 4
    assert shapes.items() == (("square", 4), ("triangle", triangle))
    assert "square" in shapes and "circle" not in shapes and len(shapes) == 2


def test_an_unknown_name_is_a_user_error_with_a_guess_and_the_known_names():
    shapes: Registry[int] = Registry("shape")
    shapes.register("square", 4)
    shapes.register("triangle", 3)
    with pytest.raises(UnknownNameError, match="unknown shape 'sqare'; did you mean 'square'"):
        shapes.get("sqare")
    with pytest.raises(MtsweepError, match="unknown shape 'circle'; known: square, triangle$"):
        shapes["circle"]


def test_each_package_keeps_its_own_error_type():
    class UnknownColour(MtsweepError):
        pass

    colours: Registry[str] = Registry("colour", UnknownColour)
    with pytest.raises(UnknownColour):
        colours.get("red")


def square() -> int:
    return 4


def test_a_taken_name_is_refused_unless_it_is_the_same_definition_again():
    shapes: Registry[object] = Registry("shape")
    shapes.register("square", square)
    shapes.register("square", square)  # a module imported a second time
    with pytest.raises(UnknownNameError, match=r"'square' of .*<lambda> is taken by .*\.square"):
        shapes.register("square", lambda: 4)
    assert shapes.get("square") is square
    sides: Registry[int] = Registry("shape")
    sides.register("square", 4)
    sides.register("square", 4)
    with pytest.raises(UnknownNameError, match="'square' of 5 is taken by 4"):
        sides.register("square", 5)


def test_a_sort_key_orders_the_names():
    sides: Registry[int] = Registry("shape", sort_key=lambda n: n)
    for name, n in (("hexagon", 6), ("triangle", 3), ("square", 4)):
        sides.register(name, n)
    assert sides.names() == ("triangle", "square", "hexagon")
    assert sides.entries() == (3, 4, 6)
