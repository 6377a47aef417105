"""Where a course comes from: the race-track family (:mod:`.family`), the 90 m procedural loops
and the default course (:mod:`.procedural`), F1TENTH maps and their occupancy grids
(:mod:`.f1tenth_map`, :mod:`.occupancy_map`), grid walls for a corridor (:mod:`.corridor_grid`),
widths measured from walls (:mod:`.wall_widths`), writing a course as a map (:mod:`.map_export`),
and the episode layout (course + obstacles) drawn from a seed (:mod:`.layout`).

The simulator (:mod:`tinylidar_gym.sim`) only sees the result, a
:class:`~tinylidar_gym.sim.course.Course` and its obstacles; nothing here is on the step path.
"""
