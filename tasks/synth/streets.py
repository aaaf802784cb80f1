"""Procedural street scenes for the Cityscapes-format data.

A camera on a car looks down a straight street: road with lane marks, raised sidewalks,
terrain behind them, facades of varying height with window grids, parked and moving
cars, the odd truck or bus, pedestrians, a cyclist, poles carrying signs or traffic
lights, trees and hedges; sky where no geometry is hit. Labels are Cityscapes labelIds.
The intrinsics are Cityscapes' own, scaled to the rendered width, so depth is metric.
"""

from __future__ import annotations

import numpy as np

from tasks.synth.camera import Camera, yaw_pitch_rotation
from tasks.synth.placement import Placement, light_direction, material
from tasks.synth.render import Part, Scene

IDS = {
    "road": 7, "sidewalk": 8, "building": 11, "wall": 12, "fence": 13, "pole": 17,
    "traffic light": 19, "traffic sign": 20, "vegetation": 21, "terrain": 22, "sky": 23,
    "person": 24, "rider": 25, "car": 26, "truck": 27, "bus": 28, "bicycle": 33,
}  # fmt: skip
BASELINE = 0.209313  # metres, Cityscapes' stereo baseline
# Cityscapes' intrinsics at 2048 × 1024 (docs/Box3DImageTransform.ipynb).
FX, FY, U0, V0, WIDTH, HEIGHT = 2262.52, 2265.30, 1096.98, 513.137, 2048, 1024
STREET_LENGTH = 150.0
SKY = ((0.78, 0.84, 0.9), (0.35, 0.55, 0.85))
_FACADES = ((0.75, 0.68, 0.55), (0.6, 0.35, 0.28), (0.62, 0.62, 0.62), (0.88, 0.86, 0.8))
_CARS = ((0.7, 0.1, 0.1), (0.1, 0.2, 0.55), (0.9, 0.9, 0.9), (0.08, 0.08, 0.08), (0.6, 0.6, 0.63))
_GLASS = (0.15, 0.18, 0.22)


def street_camera(rng: np.random.Generator, height: int) -> Camera:
    """Cityscapes' camera scaled to ``height`` × 2·``height`` pixels, ~1.3 m above the road."""
    width = 2 * height
    sx, sy = width / WIDTH, height / HEIGHT
    pose = yaw_pitch_rotation(rng.uniform(-0.06, 0.06), rng.uniform(-0.04, 0.02))
    return Camera(
        position=np.array([0.0, rng.uniform(1.2, 1.45), 0.0]),
        rotation=pose,
        fx=FX * sx,
        fy=FY * sy,
        cx=U0 * sx,
        cy=V0 * sy,
        width=width,
        height=height,
    )


# (colour, pattern, period, contrast) of the surfaces that run along the whole street
_ROAD = ((0.33, 0.33, 0.35), "speckle", 0.1, 0.15)
_SIDEWALK = ((0.62, 0.6, 0.58), "checker", 0.5, 0.12)
_TERRAIN = ((0.35, 0.45, 0.2), "speckle", 0.05, 0.35)
# what may close a gap between facades: ((height, thickness), look)
_BARRIERS = {
    "wall": ((1.2, 0.3), ((0.7, 0.66, 0.6), "bands", 0.4, 0.1)),
    "fence": ((1.6, 0.05), ((0.3, 0.32, 0.3), "stripes", 0.25, 0.5)),
}


def _slab(rng, x0: float, x1: float, top: float, name: str, look) -> Part:
    """A box 0.1 m deep below ``top``, between x0 and x1, along the whole street."""
    x0, x1 = min(x0, x1), max(x0, x1)
    centre = [(x0 + x1) / 2, (top - 0.1) / 2, STREET_LENGTH / 2 - 5.0]
    size = [x1 - x0, top + 0.1, STREET_LENGTH + 10.0]
    mat = material(rng, *look, jitter=0.03)
    return Placement(np.zeros(3), 0.0).box(centre, size, IDS[name], mat)


def _ground(rng, road: float, walk: float) -> list[Part]:
    """Road with a dashed centre line, raised sidewalks and terrain beyond them."""
    parts = [_slab(rng, -road, road, 0.0, "road", _ROAD)]
    for s in (-1, 1):
        parts.append(_slab(rng, s * road, s * (road + walk), 0.15, "sidewalk", _SIDEWALK))
        parts.append(
            _slab(rng, s * (road + walk), s * (road + walk + 40), 0.05, "terrain", _TERRAIN)
        )
    mark = material(rng, (0.92, 0.92, 0.9), jitter=0.02)
    origin = Placement(np.zeros(3), 0.0)
    for z in np.arange(rng.uniform(0, 9), STREET_LENGTH, 9.0):
        parts.append(origin.box([0, 0.003, z], [0.15, 0.006, 3.0], IDS["road"], mark))
    return parts


def _buildings(rng, side: int, edge: float) -> list[Part]:
    """Facades along one side (x = side·edge outwards), with gaps, walls and fences."""
    parts, z = [], -5.0
    while z < STREET_LENGTH:
        length = rng.uniform(8, 25)
        if rng.random() < 0.15:  # a gap, sometimes closed by a wall or a fence
            if rng.random() < 0.6:
                name = "wall" if rng.random() < 0.5 else "fence"
                (height, thickness), look = _BARRIERS[name]
                at = Placement(np.array([side * (edge + 0.3), 0.15, z + length / 2]), np.pi / 2)
                size = [length, height, thickness]  # yawed: x runs along the street
                parts.append(at.box([0, height / 2, 0], size, IDS[name], material(rng, *look)))
        else:
            height, setback, depth = rng.uniform(6, 25), rng.uniform(0, 3), 15.0
            look = (_FACADES[rng.integers(len(_FACADES))], "grid", rng.uniform(2.5, 3.5), 0.45)
            at = Placement(
                np.array([side * (edge + setback + depth / 2), 0.0, z + length / 2]), 0.0
            )
            size = [depth, height, length]
            parts.append(at.box([0, height / 2, 0], size, IDS["building"], material(rng, *look)))
        z += length
    return parts


def _car(rng, at: Placement) -> list[Part]:
    c, body = IDS["car"], material(rng, _CARS[rng.integers(len(_CARS))], jitter=0.04)
    tyre = material(rng, (0.05, 0.05, 0.05), jitter=0.01)
    parts = [
        at.box([0, 0.68, 0], [1.8, 0.75, 4.3], c, body),
        at.box([0, 1.33, -0.2], [1.6, 0.56, 2.2], c, material(rng, _GLASS, jitter=0.03)),
    ]
    parts += [
        at.cylinder([sx * 0.82, 0.32, sz * 1.35], 0.32, 0.2, c, tyre, axis="x")
        for sx in (-1, 1)
        for sz in (-1, 1)
    ]
    return parts


def _big_vehicle(rng, at: Placement) -> list[Part]:
    if rng.random() < 0.5:
        paint = material(rng, ((0.85, 0.75, 0.1), (0.75, 0.15, 0.1))[rng.integers(2)])
        windows = material(rng, (0.8, 0.8, 0.8), "grid", 1.2, 0.6)
        return [
            at.box([0, 1.8, 0], [2.5, 3.0, 11.0], IDS["bus"], paint),
            at.box([0, 2.4, 0], [2.52, 1.0, 9.5], IDS["bus"], windows),
        ]
    cab, cargo = material(rng, _CARS[rng.integers(len(_CARS))]), material(rng, (0.85, 0.85, 0.85))
    return [
        at.box([0, 1.5, 2.6], [2.4, 2.4, 1.8], IDS["truck"], cab),
        at.box([0, 2.0, -1.2], [2.5, 3.2, 5.6], IDS["truck"], cargo),
    ]


def _person(rng, at: Placement, name: str = "person", seat: float = 0.0) -> list[Part]:
    c = IDS[name]
    legs = material(rng, tuple(rng.uniform(0.05, 0.4, 3)))
    shirt = material(rng, tuple(rng.uniform(0.1, 0.9, 3)))
    parts = [] if seat else [at.cylinder([0, 0.43, 0], 0.14, 0.86, c, legs)]
    top = seat or 0.86
    return parts + [
        at.cylinder([0, top + 0.32, 0], 0.19, 0.64, c, shirt),
        at.sphere([0, top + 0.76, 0], 0.11, c, material(rng, (0.8, 0.62, 0.5))),
    ]


def _cyclist(rng, at: Placement) -> list[Part]:
    b, frame = IDS["bicycle"], material(rng, tuple(rng.uniform(0.1, 0.9, 3)))
    tyre = material(rng, (0.05, 0.05, 0.05), jitter=0.01)
    parts = [at.cylinder([0, 0.34, s * 0.52], 0.34, 0.05, b, tyre, axis="x") for s in (-1, 1)]
    parts.append(at.box([0, 0.62, 0], [0.05, 0.08, 1.0], b, frame))
    return parts + _person(rng, at, "rider", seat=0.75)


def _pole(rng, at: Placement) -> list[Part]:
    height = rng.uniform(3.0, 6.0)
    parts = [
        at.cylinder([0, height / 2, 0], 0.08, height, IDS["pole"], material(rng, (0.4, 0.4, 0.42)))
    ]
    kind = rng.random()
    if kind < 0.4:  # a sign facing the oncoming traffic (the camera looks along +z)
        sign = material(
            rng,
            ((0.85, 0.1, 0.1), (0.1, 0.3, 0.8), (0.95, 0.8, 0.1))[rng.integers(3)],
            "bands",
            0.15,
            0.4,
        )
        parts.append(
            at.cylinder([0, height - 0.3, -0.1], 0.35, 0.05, IDS["traffic sign"], sign, axis="z")
        )
    elif kind < 0.65:
        housing = material(rng, (0.12, 0.12, 0.1), jitter=0.02)
        parts.append(
            at.box([0, height - 0.45, -0.15], [0.3, 0.9, 0.25], IDS["traffic light"], housing)
        )
        for i, colour in enumerate(((0.95, 0.1, 0.05), (0.95, 0.7, 0.05), (0.1, 0.9, 0.3))):
            parts.append(
                at.sphere(
                    [0, height - 0.18 - 0.27 * i, -0.28],
                    0.08,
                    IDS["traffic light"],
                    material(rng, colour, jitter=0.02),
                )
            )
    return parts


def _tree(rng, at: Placement) -> list[Part]:
    v, trunk_h, crown = IDS["vegetation"], rng.uniform(2.0, 3.5), rng.uniform(1.5, 3.0)
    bark = material(rng, (0.35, 0.25, 0.15), "bands", 0.2, 0.2)
    leaves = material(rng, (0.2, 0.45, 0.15), "speckle", 0.15, 0.5)
    return [
        at.cylinder([0, trunk_h / 2, 0], 0.18, trunk_h, v, bark),
        at.sphere([0, trunk_h + 0.8 * crown, 0], crown, v, leaves),
    ]


def _lane_positions(rng, count: int, near: float, gap: float) -> list[float]:
    """Distances along a lane for ``count`` vehicles at least ``gap`` apart."""
    spots: list[float] = []
    for _ in range(count * 4):
        z = rng.uniform(near, 90.0)
        if all(abs(z - s) > gap for s in spots):
            spots.append(z)
        if len(spots) == count:
            break
    return spots


def _street_side(rng, side: int, road: float, walk: float) -> list[Part]:
    """Everything on one side (-1 left, +1 right): facades, parked cars, poles and trees
    at the kerb, pedestrians on the sidewalk, maybe a hedge."""
    edge = road + walk
    parts = _buildings(rng, side, edge)
    for z in _lane_positions(rng, int(rng.integers(1, 5)), 8.0, 6.0):
        parked = Placement(np.array([side * (road - 1.1), 0.0, z]), rng.uniform(-0.05, 0.05))
        parts += _car(rng, parked)
    for z in np.arange(rng.uniform(5, 25), STREET_LENGTH / 2, rng.uniform(15, 30)):
        kerb = Placement(np.array([side * (road + 0.4), 0.15, z]), 0.0)
        parts += _pole(rng, kerb) if rng.random() < 0.6 else _tree(rng, kerb)
    for _ in range(int(rng.integers(0, 4))):
        spot = np.array([side * rng.uniform(road + 0.8, edge - 0.3), 0.15, rng.uniform(3, 40)])
        parts += _person(rng, Placement(spot, rng.uniform(0, 2 * np.pi)))
    if rng.random() < 0.3:
        hedge = Placement(np.array([side * (edge - 0.5), 0.15, rng.uniform(5, 40)]), 0.0)
        leaves = material(rng, (0.18, 0.4, 0.12), "speckle", 0.08, 0.5)
        size = [0.8, 1.0, rng.uniform(3, 10)]
        parts.append(hedge.box([0, 0.5, 0], size, IDS["vegetation"], leaves))
    return parts


def _traffic(rng, road: float) -> list[Part]:
    """Moving vehicles in one or two lanes (oncoming on the left).

    Parked cars fill [road - 2, road - 0.2] on each side; the lanes share what is left,
    so that no two vehicles overlap.
    """
    parts = []
    free = road - 2.2
    lanes = (-free / 2, free / 2) if free > 2.4 else (0.0,)
    for x in lanes:
        for z in _lane_positions(rng, int(rng.integers(0, 3)), 10.0, 12.0):
            centre = np.array([x + rng.uniform(-0.15, 0.15), 0.0, z])
            at = Placement(centre, np.pi if x < 0 else 0.0)
            big = free > 2.8 and rng.random() < 0.15
            parts += _big_vehicle(rng, at) if big else _car(rng, at)
    return parts


def street_scene(rng: np.random.Generator, height: int) -> Scene:
    """One random street seen from a car, rendered ``height`` × 2·``height``."""
    camera = street_camera(rng, height)
    road, walk = rng.uniform(3.5, 6.0), rng.uniform(2.0, 4.0)
    parts = _ground(rng, road, walk)
    for side in (-1, 1):
        parts += _street_side(rng, side, road, walk)
    parts += _traffic(rng, road)
    if rng.random() < 0.3:
        spot = np.array([road + walk / 2, 0.15, rng.uniform(6, 25)])
        parts += _cyclist(rng, Placement(spot, 0.0))
    light = light_direction(rng.uniform(0.4, 1.1), rng.uniform(0, 2 * np.pi))
    return Scene(parts, camera, light, 0.4, np.zeros((0, 3)), SKY)
