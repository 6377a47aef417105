"""Where a course comes from: the procedural family and the default course, F1TENTH maps and
their occupancy grids, and the episode layout (course + obstacles) drawn from a seed.

The simulator (:mod:`tinylidar_gym.sim`) only sees the result, a
:class:`~tinylidar_gym.sim.course.Course` and its obstacles; nothing here is on the step path.
"""
