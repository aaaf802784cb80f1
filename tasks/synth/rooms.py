"""Procedural indoor rooms for the Taskonomy-format data.

A room is a box of floor, ceiling and four walls (semantic class 1, background), one wall
possibly with an open window through which rays leave the scene (no geometry: invalid
depth). Furniture and household objects of Taskonomy's 16 object classes stand on the
floor, on table and counter tops or hang on the walls; each class has its own shape,
colour and texture, so appearance tells the class. Everything fits well within 16 m,
Taskonomy's valid depth range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tasks.synth.camera import look
from tasks.synth.placement import Placement, box_corners, light_direction, material, shifted
from tasks.synth.primitives import Box
from tasks.synth.render import Part, Scene

CLASSES = (
    "uncertain", "background", "bottle", "chair", "couch", "potted plant", "bed",
    "dining table", "toilet", "tv", "microwave", "oven", "toaster", "sink", "refrigerator",
    "book", "clock", "vase",
)  # fmt: skip
BACKGROUND = 1
WALL_THICKNESS = 0.02  # thin, so that walls overlapping at corners hide nothing
SKY = ((0.85, 0.88, 0.92), (0.45, 0.62, 0.9))


def label(name: str) -> int:
    return CLASSES.index(name)


@dataclass
class Piece:
    """One object: its parts, floor footprint radius and, for furniture that can carry
    small objects, its top (height, half width, half depth) in the object's frame."""

    parts: list[Part]
    radius: float
    top: tuple[float, float, float] | None = None


Builder = Callable[[np.random.Generator, Placement], Piece]


# --------------------------------------------------------------------------- objects


def _bottle(rng, at):
    r, h = rng.uniform(0.03, 0.045), rng.uniform(0.18, 0.3)
    m = material(rng, (0.15, 0.45, 0.2), "bands", 0.05, 0.2)
    body = at.cylinder([0, 0.35 * h, 0], r, 0.7 * h, label("bottle"), m)
    neck = at.cylinder([0, 0.85 * h, 0], 0.35 * r, 0.3 * h, label("bottle"), m)
    return Piece([body, neck], r)


def _chair(rng, at):
    c = label("chair")
    m = material(rng, (0.55, 0.33, 0.18), "stripes", 0.05, 0.15)
    legs = [
        at.box([x, 0.22, z], [0.04, 0.44, 0.04], c, m) for x in (-0.2, 0.2) for z in (-0.2, 0.2)
    ]
    seat = at.box([0, 0.465, 0], [0.46, 0.05, 0.46], c, m)
    back = at.box([0, 0.72, -0.21], [0.46, 0.45, 0.04], c, m)
    return Piece([*legs, seat, back], 0.35)


def _couch(rng, at):
    c, w, d = label("couch"), rng.uniform(1.5, 2.2), 0.85
    colours = ((0.6, 0.2, 0.2), (0.25, 0.3, 0.55), (0.4, 0.4, 0.38))
    m = material(rng, colours[rng.integers(len(colours))], "speckle", 0.04, 0.3)
    parts = [
        at.box([0, 0.21, 0], [w, 0.42, d], c, m),
        at.box([0, 0.62, -d / 2 + 0.09], [w, 0.4, 0.18], c, m),
        *(at.box([s * (w / 2 - 0.08), 0.52, 0], [0.16, 0.2, d], c, m) for s in (-1, 1)),
    ]
    return Piece(parts, w / 2)


def _plant(scale: float) -> Builder:
    def build(rng, at):
        c = label("potted plant")
        r, h = scale * rng.uniform(0.12, 0.2), scale * rng.uniform(0.25, 0.4)
        crown = scale * rng.uniform(0.25, 0.4)
        pot = at.cylinder([0, h / 2, 0], r, h, c, material(rng, (0.7, 0.35, 0.2)))
        leaves = at.sphere(
            [0, h + 0.8 * crown, 0],
            crown,
            c,
            material(rng, (0.2, 0.55, 0.15), "speckle", 0.02, 0.5),
        )
        return Piece([pot, leaves], max(r, crown))

    return build


def _bed(rng, at):
    c, w, length = label("bed"), rng.uniform(1.0, 1.8), rng.uniform(1.9, 2.1)
    sheet = material(rng, (0.85, 0.87, 0.95), "checker", 0.25, 0.12)
    wood = material(rng, (0.45, 0.3, 0.18), "stripes", 0.05, 0.15)
    parts = [
        at.box([0, 0.225, 0], [w, 0.45, length], c, sheet),
        at.box([0, 0.5, -length / 2 - 0.03], [w + 0.06, 1.0, 0.06], c, wood),
    ]
    pillows = 1 if w < 1.3 else 2
    for i in range(pillows):
        x = (i - (pillows - 1) / 2) * w / 2
        parts.append(
            at.box(
                [x, 0.51, -length / 2 + 0.25],
                [0.5, 0.12, 0.35],
                c,
                material(rng, (0.95, 0.95, 0.95)),
            )
        )
    return Piece(parts, length / 2)


def _table(rng, at):
    c, w, d, h = label("dining table"), rng.uniform(0.9, 1.6), rng.uniform(0.7, 1.0), 0.75
    m = material(rng, (0.6, 0.4, 0.25), "stripes", 0.08, 0.15)
    legs = [
        at.box(
            [sx * (w / 2 - 0.06), (h - 0.05) / 2, sz * (d / 2 - 0.06)], [0.05, h - 0.05, 0.05], c, m
        )
        for sx in (-1, 1)
        for sz in (-1, 1)
    ]
    top = at.box([0, h - 0.025, 0], [w, 0.05, d], c, m)
    return Piece([*legs, top], float(np.hypot(w, d) / 2), (h, w / 2 - 0.1, d / 2 - 0.1))


def _toilet(rng, at):
    c, m = label("toilet"), material(rng, (0.95, 0.95, 0.95), jitter=0.03)
    bowl = at.cylinder([0, 0.2, 0.08], 0.2, 0.4, c, m)
    tank = at.box([0, 0.55, -0.17], [0.45, 0.5, 0.18], c, m)
    return Piece([bowl, tank], 0.35)


def _tv(rng, at):
    w = rng.uniform(0.8, 1.3)
    m = material(rng, (0.05, 0.05, 0.08), "grid", w, 0.0, jitter=0.02)
    screen = material(rng, (0.1, 0.15, 0.3), "speckle", 0.1, 0.4)
    return Piece(
        [
            at.box([0, 0, 0.03], [w, 0.56 * w, 0.06], label("tv"), m),
            at.box([0, 0, 0.061], [0.92 * w, 0.5 * w, 0.002], label("tv"), screen),
        ],
        0.0,
    )


def _counter_box(
    name: str,
    colour,
    pattern: str,
    scale: float,
    contrast: float,
    size: tuple[float, float, float],
    support: bool,
) -> Builder:
    """Appliances and furniture that are one box; ``support`` ones carry small objects."""

    def build(rng, at):
        w, h, d = (s * rng.uniform(0.9, 1.1) for s in size)
        part = at.box(
            [0, h / 2, 0], [w, h, d], label(name), material(rng, colour, pattern, scale, contrast)
        )
        top = (h, w / 2 - 0.05, d / 2 - 0.05) if support else None
        return Piece([part], float(np.hypot(w, d) / 2), top)

    return build


def _book(rng, at):
    parts = []
    for i in range(int(rng.integers(1, 4))):
        colour = tuple(rng.uniform(0.1, 0.9, 3))
        turn = Placement(at.base, at.yaw + rng.uniform(-0.3, 0.3))
        parts.append(
            turn.box(
                [0, 0.03 * i + 0.015, 0],
                [0.16, 0.03, 0.23],
                label("book"),
                material(rng, colour, "stripes", 0.02, 0.3),
            )
        )
    return Piece(parts, 0.14)


def _clock(rng, at):
    r = rng.uniform(0.12, 0.2)
    face = at.cylinder(
        [0, 0, 0.02],
        r,
        0.04,
        label("clock"),
        material(rng, (0.95, 0.95, 0.9), "bands", r / 2, 0.1),
        axis="z",
    )
    rim = at.cylinder(
        [0, 0, 0.015], 1.1 * r, 0.03, label("clock"), material(rng, (0.15, 0.12, 0.1)), axis="z"
    )
    return Piece([face, rim], 0.0)


def _vase(rng, at):
    c, r = label("vase"), rng.uniform(0.06, 0.1)
    m = material(rng, (0.2, 0.3, 0.7), "bands", 0.05, 0.3)
    return Piece(
        [at.sphere([0, r, 0], r, c, m), at.cylinder([0, 2.2 * r, 0], 0.5 * r, 1.4 * r, c, m)], r
    )


FLOOR: dict[str, Builder] = {
    "chair": _chair,
    "couch": _couch,
    "potted plant": _plant(1.0),
    "bed": _bed,
    "dining table": _table,
    "toilet": _toilet,
    "oven": _counter_box("oven", (0.3, 0.3, 0.32), "grid", 0.3, 0.3, (0.6, 0.9, 0.6), True),
    "sink": _counter_box("sink", (0.85, 0.85, 0.8), "checker", 0.1, 0.1, (0.8, 0.88, 0.55), True),
    "refrigerator": _counter_box(
        "refrigerator", (0.92, 0.92, 0.9), "bands", 0.9, 0.15, (0.75, 1.75, 0.7), False
    ),
}
SMALL: dict[str, Builder] = {
    "bottle": _bottle,
    "potted plant": _plant(0.5),
    "microwave": _counter_box(
        "microwave", (0.8, 0.8, 0.82), "grid", 0.12, 0.4, (0.5, 0.3, 0.38), False
    ),
    "toaster": _counter_box(
        "toaster", (0.75, 0.75, 0.78), "bands", 0.04, 0.3, (0.28, 0.2, 0.16), False
    ),
    "book": _book,
    "vase": _vase,
}
WALL: dict[str, tuple[Builder, tuple[float, float]]] = {
    "tv": (_tv, (1.1, 1.5)),
    "clock": (_clock, (1.8, 2.1)),
}


# --------------------------------------------------------------------------- the room


@dataclass(frozen=True)
class Wall:
    """A wall at ``x = at`` (axis 0) or ``z = at`` (axis 2), facing into the room."""

    axis: int
    at: float
    inward: float  # +1 or -1 along the axis

    def point(self, u: float, y: float) -> np.ndarray:
        """A point on the wall's inner face, u along it."""
        return np.array([u, y, self.at]) if self.axis == 2 else np.array([self.at, y, u])

    @property
    def normal(self) -> np.ndarray:
        n = np.zeros(3)
        n[self.axis] = self.inward
        return n


def _room_shell(
    rng, size: np.ndarray, window: tuple[int, tuple[float, float, float, float]] | None
):
    """Floor, ceiling and walls as thin boxes; a window is a rectangular hole in one wall."""
    w, h, d = size
    t = WALL_THICKNESS
    b = BACKGROUND
    floor = material(
        rng,
        (0.55, 0.4, 0.28),
        *(("stripes", 0.15, 0.2) if rng.random() < 0.5 else ("checker", 0.5, 0.25)),
    )
    ceiling = material(rng, (0.92, 0.92, 0.9), jitter=0.03)
    paint = material(
        rng,
        tuple(rng.uniform(0.55, 0.9, 3)),
        ("plain", "bands", "stripes")[rng.integers(3)],
        0.2,
        0.08,
        jitter=0.0,
    )
    slab = np.array([w / 2 + t, t / 2, d / 2 + t])
    parts = [
        Part(Box(np.array([w / 2, y, d / 2]), half=slab), b, look)
        for y, look in ((-t / 2, floor), (h + t / 2, ceiling))
    ]
    walls = _walls(size)
    for index, wall in enumerate(walls):
        length = size[2] if wall.axis == 0 else size[0]
        hole = window[1] if window is not None and window[0] == index else None
        for u0, u1, y0, y1 in _wall_pieces(length, h, hole):
            centre = wall.point((u0 + u1) / 2, (y0 + y1) / 2) - wall.normal * (t / 2)
            half = np.array([(u1 - u0) / 2 + t, (y1 - y0) / 2 + t, (u1 - u0) / 2 + t])
            half[wall.axis] = t / 2
            parts.append(Part(Box(centre, half=half), b, paint))
    return parts


def _walls(size: np.ndarray) -> list[Wall]:
    w, _, d = size
    return [Wall(0, 0.0, 1.0), Wall(0, w, -1.0), Wall(2, 0.0, 1.0), Wall(2, d, -1.0)]


def _wall_pieces(length: float, height: float, hole):
    """Rectangles (u0, u1, y0, y1) covering a wall except the hole (u0, u1, y0, y1)."""
    if hole is None:
        return [(0.0, length, 0.0, height)]
    u0, u1, y0, y1 = hole
    return [
        (0.0, u0, 0.0, height),
        (u1, length, 0.0, height),
        (u0, u1, 0.0, y0),
        (u0, u1, y1, height),
    ]


def _pick_window(rng, size) -> tuple[int, tuple[float, float, float, float]] | None:
    if rng.random() < 0.4:
        return None
    index = int(rng.integers(4))
    length = size[2] if index < 2 else size[0]
    width, height = rng.uniform(0.8, min(1.6, length - 1.0)), rng.uniform(0.8, 1.3)
    u0 = rng.uniform(0.4, length - width - 0.4)
    y0 = rng.uniform(0.8, 1.0)
    return index, (u0, u0 + width, y0, min(y0 + height, size[1] - 0.3))


@dataclass
class Floor:
    """Free floor space of a room: where objects may stand, clear of each other and of
    the camera, and half the time inside the camera's view so that views show objects."""

    room: np.ndarray
    eye: np.ndarray  # camera (x, z)
    yaw: float
    half_view: float
    taken: list[tuple[np.ndarray, float]]

    def spot(self, rng: np.random.Generator, radius: float) -> np.ndarray | None:
        """A free world point on the floor for a footprint of ``radius`` (None: no room)."""
        for _ in range(30):
            if rng.random() < 0.5:
                angle = self.yaw + rng.uniform(-self.half_view, self.half_view)
                spot = self.eye + rng.uniform(1.0, 4.0) * np.array([np.sin(angle), np.cos(angle)])
            else:
                spot = rng.uniform([0, 0], self.room[[0, 2]])
            spot = np.clip(spot, radius + 0.05, self.room[[0, 2]] - radius - 0.05)
            clear = all(np.linalg.norm(spot - c) > radius + r for c, r in self.taken)
            if clear and np.linalg.norm(spot - self.eye) > radius + 0.4:
                self.taken.append((spot, radius))
                return np.array([spot[0], 0.0, spot[1]])
        return None


def _furniture(rng, floor: Floor) -> tuple[list[Part], list[tuple[Placement, tuple]]]:
    """Floor-standing objects, and the tops (placement, top) that can carry small ones."""
    parts, supports = [], []
    names = list(FLOOR)
    for _ in range(int(rng.integers(3, 7))):
        name = names[rng.integers(len(names))]
        at = Placement(np.zeros(3), rng.uniform(0, 2 * np.pi))
        piece = FLOOR[name](rng, at)  # built at the origin, moved once a spot is found
        spot = floor.spot(rng, piece.radius)
        if spot is None:
            continue
        parts += shifted(piece.parts, spot)
        if piece.top is not None:
            supports.append((Placement(spot, at.yaw), piece.top))
    return parts, supports


def _small_objects(rng, floor: Floor, supports) -> list[Part]:
    """Small objects, mostly on table and counter tops, else on the floor."""
    parts = []
    names = list(SMALL)
    for _ in range(int(rng.integers(2, 6))):
        name = names[rng.integers(len(names))]
        yaw = rng.uniform(0, 2 * np.pi)
        if supports and rng.random() < 0.75:
            under, (height, hx, hz) = supports[rng.integers(len(supports))]
            base = under.at([rng.uniform(-hx, hx), height, rng.uniform(-hz, hz)])
        else:
            base = floor.spot(rng, 0.2)
            if base is None:
                continue
        parts += SMALL[name](rng, Placement(base, yaw)).parts
    return parts


def _wall_objects(rng, room: np.ndarray, window_wall: int | None) -> list[Part]:
    """A tv and a clock, each on some wall half the time (never the window's wall)."""
    parts = []
    walls = _walls(room)
    for build, (low, high) in WALL.values():
        index = int(rng.integers(4))
        if rng.random() < 0.5 or index == window_wall:
            continue
        wall = walls[index]
        length = room[2] if wall.axis == 0 else room[0]
        base = wall.point(rng.uniform(0.8, length - 0.8), rng.uniform(low, high))
        yaw = float(np.arctan2(wall.normal[0], wall.normal[2]))  # object +z = into the room
        parts += build(rng, Placement(base, yaw)).parts
    return parts


def room_scene(rng: np.random.Generator, size: int) -> Scene:
    """One random room seen by one random camera, rendered ``size`` × ``size``."""
    room = np.array([rng.uniform(3.5, 8.0), rng.uniform(2.4, 3.2), rng.uniform(3.5, 8.0)])
    window = _pick_window(rng, room)
    shell = _room_shell(rng, room, window)

    eye = rng.uniform([0.6, 1.2, 0.6], [room[0] - 0.6, 1.7, room[2] - 0.6])
    yaw, pitch = rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.05)
    hfov = np.radians(rng.uniform(55, 75))
    camera = look(eye, yaw, pitch, hfov, size, size)

    floor = Floor(room, eye[[0, 2]], yaw, 0.4 * hfov, [])
    objects, supports = _furniture(rng, floor)
    objects += _small_objects(rng, floor, supports)
    objects += _wall_objects(rng, room, None if window is None else window[0])

    light = light_direction(rng.uniform(0.5, 1.2), rng.uniform(0, 2 * np.pi))
    corners = room * np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).reshape(3, -1).T
    keypoints = np.concatenate([corners, box_corners(objects)])
    return Scene(shell + objects, camera, light, 0.3, keypoints, SKY)
