"""Procedural 3-D scenes, ray-cast on the CPU, written in the real datasets' formats.

Every label is computed from the same analytic scene as the image (depth, normals,
curvature and classes from the hit surfaces; shading from the scene's light; edges and
keypoints from the geometry or the image), so the tasks are physically consistent and
learnable from the RGB. Generation is deterministic: image i of seed K is the same file
whatever the number of images requested.
"""

from tasks.synth.cityscapes_writer import write_cityscapes
from tasks.synth.output import SynthError, SynthReport
from tasks.synth.taskonomy_writer import write_taskonomy

__all__ = ["SynthError", "SynthReport", "write_cityscapes", "write_taskonomy"]
