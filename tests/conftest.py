"""Test-wide settings."""

import os

# As in the experiment-runner entry point: idle OpenMP threads sleep instead of spinning, which
# keeps the suite fast when the machine's cores are shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
