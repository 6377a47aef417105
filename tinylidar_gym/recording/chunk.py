"""MCAP chunks in memory: reusable chunk buffers and the finished :class:`Chunk` with its
message index, built by the stepping thread and handed to the writer thread
(:mod:`~tinylidar_gym.recording.mcap_chunks`)."""

from __future__ import annotations

import array
import dataclasses
import struct
from collections.abc import Sequence

import numpy as np
from mcap.opcode import Opcode

from tinylidar_gym.recording.mcap_records import STEP_CHANNELS

CHUNK_SIZE_BYTES = 1 << 19
"""Target uncompressed chunk size: ~57 steps (1.4 s at 40 Hz) of a 1081-beam scan."""

MAX_PENDING_CHUNKS = 4
"""Chunks queued for the worker before ``write_step`` waits (bounds memory to a few MB)."""
CHUNK_CAPACITY = CHUNK_SIZE_BYTES + (1 << 16)
"""Bytes allocated per chunk buffer: the target size plus room for the step that crosses it."""
_F8 = np.dtype("<f8")


class ChunkBuffer:
    """A reusable chunk buffer with float64 views at each of the 8 byte alignments, so that a
    scan is cast straight into place (no temporary array, no join)."""

    _free: list[ChunkBuffer] = []  # shared by all writers of the process (list ops are atomic)

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data = bytearray(capacity)
        self.views = tuple(
            np.frombuffer(self.data, _F8, count=(capacity - r) // 8, offset=r) for r in range(8)
        )

    @classmethod
    def get(cls, capacity: int = CHUNK_CAPACITY) -> ChunkBuffer:
        if capacity <= CHUNK_CAPACITY:
            try:
                return cls._free.pop()
            except IndexError:
                capacity = CHUNK_CAPACITY
        return cls(capacity)

    def view(self, size: int) -> memoryview:
        return memoryview(self.data)[:size]

    def release(self) -> None:
        """Return the buffer for reuse (keeps a few; the others are freed)."""
        if self.capacity == CHUNK_CAPACITY and len(self._free) < 2 * MAX_PENDING_CHUNKS:
            self._free.append(self)


@dataclasses.dataclass
class Chunk:
    """A finished chunk, ready for the worker thread: its buffer and the bytes used, its time
    range, and its message index records (see :func:`make_chunk`)."""

    buffer: ChunkBuffer
    size: int
    start: int
    """Earliest message log time."""
    end: int
    """Latest message log time."""
    index: bytes
    """Its MessageIndex records, one per channel (in channel order)."""
    index_offsets: tuple[tuple[int, int], ...]
    """``(channel id, offset of its record in index)``."""


def make_chunk(
    buffer: ChunkBuffer, size: int, idx: Sequence[int], extra: Sequence[tuple[int, int, int]]
) -> Chunk:
    """The :class:`Chunk` of ``buffer[:size]``, given where its messages are: ``idx``, per step
    (flat) the log time and the offsets of its ``STEP_CHANNELS`` messages; ``extra``, other
    messages as ``(channel, log time, offset)``.

    Built by the stepping thread, which holds the GIL anyway: in the worker thread these
    of Python would cost the stepping thread several times that, waiting for the GIL."""
    per_channel: dict[int, bytes] = {}
    n_steps = len(idx) // 5
    times = [row[1] for row in extra]
    if n_steps:  # (t, offset) pairs of each step channel, from the (n, 5) rows
        rows = np.frombuffer(array.array("Q", idx), "=u8").reshape(n_steps, 5)
        pairs = np.empty((len(STEP_CHANNELS), n_steps, 2), "<u8")
        pairs[:, :, 0] = rows[:, 0]
        pairs[:, :, 1] = rows[:, 1:].T
        for i, channel in enumerate(STEP_CHANNELS):
            per_channel[channel] = pairs[i].tobytes()
        times += (idx[0], idx[-5])
    flat_by_channel: dict[int, list[int]] = {}
    for channel, t, offset in extra:
        flat_by_channel.setdefault(channel, []).extend((t, offset))
    for channel, flat in flat_by_channel.items():
        per_channel[channel] = struct.pack(f"<{len(flat)}Q", *flat)
    index = bytearray()
    offsets = []
    for channel in sorted(per_channel):
        body = per_channel[channel]
        offsets.append((channel, len(index)))
        index += struct.pack("<BQHI", Opcode.MESSAGE_INDEX, 6 + len(body), channel, len(body))
        index += body
    return Chunk(buffer, size, min(times), max(times), bytes(index), tuple(offsets))
