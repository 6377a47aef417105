"""MCAP records of a tinylidar recording, encoded with ``struct``: the file head, message and
chunk index records, attachments, metadata, and the summary section and footer.

Records are encoded here with ``struct`` (``tests/test_recording.py`` checks them against the
``mcap`` package's classes); the constant schema, channel and header records come from the
``mcap`` package. Writing them (buffers, the background thread, the file) is
:mod:`~tinylidar_gym.recording.mcap_chunks`.
"""

from __future__ import annotations

import array
import dataclasses
import functools
import io
import struct
import zlib
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import Channel, Header, Schema

from tinylidar_gym.recording import schemas as s

if TYPE_CHECKING:
    from tinylidar_gym.recording.mcap_chunks import ChunkBuffer

MAGIC = b"\x89MCAP0\r\n"

# Channel ids (MCAP ids are per file; these are fixed for every recording).
CH_SCAN, CH_TF, CH_COMMAND, CH_STEP, CH_TF_STATIC, CH_SCENE = 1, 2, 3, 4, 5, 6
CHANNELS: tuple[tuple[int, str, str, str], ...] = (
    # (channel id, topic, schema name, message encoding)
    (CH_SCAN, s.TOPIC_SCAN, s.SCHEMA_LASER_SCAN, s.ENCODING_PROTOBUF),
    (CH_TF, s.TOPIC_TF, s.SCHEMA_FRAME_TRANSFORM, s.ENCODING_PROTOBUF),
    (CH_COMMAND, s.TOPIC_COMMAND, s.SCHEMA_COMMAND, s.ENCODING_PROTOBUF),
    (CH_STEP, s.TOPIC_STEP, s.SCHEMA_STEP, s.ENCODING_PROTOBUF),
    (CH_TF_STATIC, s.TOPIC_TF_STATIC, s.SCHEMA_FRAME_TRANSFORM, s.ENCODING_PROTOBUF),
    (CH_SCENE, s.TOPIC_SCENE, s.SCHEMA_SCENE_UPDATE, s.ENCODING_PROTOBUF),
)
STEP_CHANNELS = (CH_SCAN, CH_TF, CH_COMMAND, CH_STEP)
"""The channels with one message per step, in the order of a step's records."""

# Message record: opcode, record length, channel id | sequence, log time, publish time, data.
MSG_HEAD = struct.Struct("<BQH").pack
MSG_HEADER = struct.Struct("<BQHIQQ").pack
MSG_HEAD_FORMAT = "11sIQQ"
"""``struct`` format of a message record header as a constant 11-byte head (opcode, record
length, channel: :func:`message_head`) and then sequence, log time, publish time."""
MSG_FIXED = 2 + 4 + 8 + 8  # record length = this + len(data)
MSG_HEADER_SIZE = 9 + MSG_FIXED
OP_MESSAGE = int(Opcode.MESSAGE)


def message_head(channel: int, data_size: int) -> bytes:
    """The first 11 bytes of a message record: opcode, record length, channel id."""
    return MSG_HEAD(OP_MESSAGE, MSG_FIXED + data_size, channel)


# --------------------------------------------------------------------------- records


def record_bytes(*records: Any) -> bytes:
    """Records built with the ``mcap`` package's record classes."""
    builder = RecordBuilder()
    for record in records:
        record.write(builder)
    return builder.end()


def _record(opcode: Opcode, body: bytes) -> bytes:
    return struct.pack("<BQ", opcode, len(body)) + body


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def _string_map(values: Mapping[str, str]) -> bytes:
    body = b"".join(_string(k) + _string(v) for k, v in values.items())
    return struct.pack("<I", len(body)) + body


def _id_map(values: Mapping[int, int]) -> bytes:
    """A map<uint16, uint64> (channel id to offset or count)."""
    flat = [x for item in values.items() for x in item]
    return struct.pack(f"<I{'HQ' * len(values)}", 10 * len(values), *flat)


def metadata_record(name: str, values: Mapping[str, str]) -> bytes:
    """A Metadata record."""
    return _record(Opcode.METADATA, _string(name) + _string_map(values))


@functools.lru_cache(maxsize=8)
def _attachment_record(name: str, media_type: str, payload: bytes) -> bytes:
    body = struct.pack("<QQ", 0, 0) + _string(name) + _string(media_type)  # log, create time 0
    body += struct.pack("<Q", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(body))
    head = struct.pack("<BQ", Opcode.ATTACHMENT, len(body) + len(payload) + 4)
    return head + body + payload + struct.pack("<I", crc)


@functools.lru_cache(maxsize=16)
def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    """The ``.npy`` bytes that ``np.save`` writes before the data of such an array."""
    npy = io.BytesIO()
    zeros = np.zeros(shape, dtype=dtype)
    np.save(npy, zeros, allow_pickle=False)
    data = npy.getvalue()
    return data[: len(data) - zeros.nbytes]


def npy_attachment(name: str, array: np.ndarray) -> tuple[bytes, int]:
    """An Attachment record (log/create time 0) holding a C-contiguous ``array`` as ``.npy``
    bytes (those of ``np.save``), and the payload size. Recent ones are memoised (the course's
    walls repeat every episode)."""
    payload = _npy_header(array.shape, array.dtype.str) + array.tobytes()
    return _attachment_record(name, s.NPY_MEDIA_TYPE, payload), len(payload)


def chunk_index_record(
    start: int,
    end: int,
    offset: int,
    length: int,
    index_offsets: Mapping[int, int],
    index_length: int,
    compression: str,
    compressed_size: int,
    uncompressed_size: int,
) -> bytes:
    """A ChunkIndex record."""
    return _record(
        Opcode.CHUNK_INDEX,
        struct.pack("<QQQQ", start, end, offset, length)
        + _id_map(index_offsets)
        + struct.pack("<Q", index_length)
        + _string(compression)
        + struct.pack("<QQ", compressed_size, uncompressed_size),
    )


@cache
def schemas_and_channels() -> tuple[tuple[Schema, ...], tuple[Channel, ...], bytes, bytes]:
    """The (constant) schema and channel records, and the bytes of each group."""
    names = (
        s.SCHEMA_LASER_SCAN,
        s.SCHEMA_FRAME_TRANSFORM,
        s.SCHEMA_SCENE_UPDATE,
        s.SCHEMA_COMMAND,
        s.SCHEMA_STEP,
    )
    schemas = [
        Schema(i + 1, s.protobuf_schema_data(n), s.ENCODING_PROTOBUF, n)
        for i, n in enumerate(names)
    ]
    ids = {schema.name: schema.id for schema in schemas}
    channels = tuple(
        Channel(id=cid, topic=topic, message_encoding=enc, metadata={}, schema_id=ids[name])
        for cid, topic, name, enc in CHANNELS
    )
    return tuple(schemas), channels, record_bytes(*schemas), record_bytes(*channels)


@cache
def file_head() -> bytes:
    """Magic, Header, and the schema and channel records (repeated in the summary)."""
    _, _, schema_bytes, channel_bytes = schemas_and_channels()
    header = record_bytes(Header(profile=s.PROFILE, library=s.LIBRARY))
    return MAGIC + header + schema_bytes + channel_bytes


# --------------------------------------------------------------------------- chunks


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


# --------------------------------------------------------------------------- summary


def metadata_index_record(offset: int, length: int, name: str) -> bytes:
    """A MetadataIndex record for a Metadata record of ``length`` bytes at ``offset``."""
    return _record(Opcode.METADATA_INDEX, struct.pack("<QQ", offset, length) + _string(name))


def attachment_index_record(offset: int, length: int, size: int, name: str) -> bytes:
    """An AttachmentIndex record for an ``.npy`` Attachment record (times 0) of ``length`` bytes
    at ``offset`` with a payload of ``size`` bytes."""
    return _record(
        Opcode.ATTACHMENT_INDEX,
        struct.pack("<QQQQQ", offset, length, 0, 0, size)
        + _string(name)
        + _string(s.NPY_MEDIA_TYPE),
    )


def chunk_record_head(chunk: Chunk, compression: bytes, compressed_size: int) -> bytes:
    """The Chunk record up to its (compressed) records, which follow it."""
    return struct.pack(
        f"<BQQQQII{len(compression)}sQ",
        Opcode.CHUNK,
        8 + 8 + 8 + 4 + 4 + len(compression) + 8 + compressed_size,  # record length
        chunk.start,
        chunk.end,
        chunk.size,
        0,  # uncompressed CRC: not computed (the zstd/lz4 frame has a checksum)
        len(compression),
        compression,
        compressed_size,
    )


def statistics_record(
    message_counts: Mapping[int, int],
    attachments: int,
    metadata: int,
    chunk_times: Sequence[tuple[int, int]],
) -> bytes:
    """The Statistics record: messages per channel (``message_counts``: channel id -> count),
    attachment, metadata and chunk counts, and the time range of the chunks."""
    schemas, channels, _, _ = schemas_and_channels()
    counts = {cid: n for cid, n in message_counts.items() if n}
    return _record(
        Opcode.STATISTICS,
        struct.pack(
            "<QHIIIIQQ",
            sum(counts.values()),
            len(schemas),
            len(channels),
            attachments,
            metadata,
            len(chunk_times),
            min((t[0] for t in chunk_times), default=0),
            max((t[1] for t in chunk_times), default=0),
        )
        + _id_map(counts),
    )


def summary_parts(
    pos: int,
    statistics: bytes,
    chunk_indexes: Sequence[bytes],
    attachment_indexes: Sequence[bytes],
    metadata_indexes: Sequence[bytes],
) -> list[bytes]:
    """DataEnd, the summary section (schemas, channels, statistics, indexes), its offsets, the
    footer and the closing magic, for a file whose data section ends at byte ``pos``."""
    data_end = _record(Opcode.DATA_END, struct.pack("<I", 0))  # 0: CRC not computed
    _, _, schema_bytes, channel_bytes = schemas_and_channels()
    summary_start = pos + len(data_end)
    groups = [
        (Opcode.SCHEMA, schema_bytes),
        (Opcode.CHANNEL, channel_bytes),
        (Opcode.STATISTICS, statistics),
        (Opcode.CHUNK_INDEX, b"".join(chunk_indexes)),
        (Opcode.ATTACHMENT_INDEX, b"".join(attachment_indexes)),
        (Opcode.METADATA_INDEX, b"".join(metadata_indexes)),
    ]
    parts = [data_end]
    offsets = bytearray()
    start = summary_start
    for opcode, data in groups:
        if data:
            group = struct.pack("<BQQ", opcode, start, len(data))
            offsets += _record(Opcode.SUMMARY_OFFSET, group)
            parts.append(data)
            start += len(data)
    footer_head = struct.pack("<BQQQ", Opcode.FOOTER, 20, summary_start, start)
    # CRC of the summary: the constant schemas and channels (cached), then the rest, small
    # enough for zlib to keep the GIL (instead of handing it over twice).
    summary_crc = _schemas_and_channels_crc()
    for data in parts[3:]:
        summary_crc = zlib.crc32(data, summary_crc)
    summary_crc = zlib.crc32(footer_head, zlib.crc32(offsets, summary_crc))
    parts += (offsets, footer_head, struct.pack("<I", summary_crc), MAGIC)
    return parts


@cache
def _schemas_and_channels_crc() -> int:
    _, _, schema_bytes, channel_bytes = schemas_and_channels()
    return zlib.crc32(channel_bytes, zlib.crc32(schema_bytes))
