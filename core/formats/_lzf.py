"""LZF (liblzf) compression and decompression, the codec of PCD ``binary_compressed`` data.

Pure numeric cores in numba; the thin wrappers turn error codes into FormatError messages.
Format: a stream of chunks. A control byte ``c < 32`` starts a literal run of ``c + 1`` bytes;
otherwise ``c >> 5`` is the match length minus 2 (7 means "plus the next byte") and the low
5 bits with the following byte form a back-reference offset minus 1 (up to 8192 bytes back).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from core.errors import FormatError

#: error codes of the numeric core (negative return values)
_TRUNCATED = -1
_OUTPUT_OVERFLOW = -2
_BAD_BACK_REFERENCE = -3

_HASH_LOG = 14
_MAX_OFFSET = 1 << 13
_MAX_MATCH = 264  # (1 << 8) + (1 << 3): longest match one chunk can encode


@numba.njit(cache=True, nogil=True)
def _decompress_into(src: npt.NDArray[np.uint8], dst: npt.NDArray[np.uint8]) -> int:
    """Decode ``src`` into ``dst``; return the bytes written or a negative error code."""
    ip = 0
    op = 0
    n_in = src.shape[0]
    n_out = dst.shape[0]
    while ip < n_in:
        ctrl = int(src[ip])
        ip += 1
        if ctrl < 32:
            length = ctrl + 1
            if ip + length > n_in:
                return _TRUNCATED
            if op + length > n_out:
                return _OUTPUT_OVERFLOW
            dst[op : op + length] = src[ip : ip + length]
            ip += length
            op += length
        else:
            length = ctrl >> 5
            if ip >= n_in:
                return _TRUNCATED
            if length == 7:
                length += int(src[ip])
                ip += 1
                if ip >= n_in:
                    return _TRUNCATED
            ref = op - ((ctrl & 0x1F) << 8) - 1 - int(src[ip])
            ip += 1
            length += 2
            if op + length > n_out:
                return _OUTPUT_OVERFLOW
            if ref < 0:
                return _BAD_BACK_REFERENCE
            for k in range(length):  # byte by byte: source and target may overlap
                dst[op + k] = dst[ref + k]
            op += length
    return op


@numba.njit(cache=True, nogil=True)
def _compress_into(src: npt.NDArray[np.uint8], dst: npt.NDArray[np.uint8]) -> int:
    """Encode ``src`` into ``dst`` (at least ``len(src) * 33 // 32 + 2`` bytes); return its size."""
    n = src.shape[0]
    if n == 0:
        return 0
    table = np.full(1 << _HASH_LOG, -1, dtype=np.int64)
    ip = 0
    op = 1  # dst[0] is reserved for the control byte of the first literal run
    lit = 0
    while ip + 2 < n:
        key = (int(src[ip]) << 16) | (int(src[ip + 1]) << 8) | int(src[ip + 2])
        slot = ((key * 2654435761) >> (24 - _HASH_LOG + 8)) & ((1 << _HASH_LOG) - 1)
        ref = table[slot]
        table[slot] = ip
        off = ip - ref - 1
        if (
            ref >= 0
            and off < _MAX_OFFSET
            and src[ref] == src[ip]
            and src[ref + 1] == src[ip + 1]
            and src[ref + 2] == src[ip + 2]
        ):
            max_len = min(_MAX_MATCH, n - ip)
            length = 3
            while length < max_len and src[ref + length] == src[ip + length]:
                length += 1
            # close the pending literal run (or drop its unused control byte)
            if lit > 0:
                dst[op - lit - 1] = lit - 1
            else:
                op -= 1
            code = length - 2
            if code < 7:
                dst[op] = (off >> 8) + (code << 5)
                op += 1
            else:
                dst[op] = (off >> 8) + (7 << 5)
                dst[op + 1] = code - 7
                op += 2
            dst[op] = off & 0xFF
            op += 2  # the extra byte is the next literal run's control byte
            lit = 0
            ip += length
        else:
            dst[op] = src[ip]
            op += 1
            ip += 1
            lit += 1
            if lit == 32:
                dst[op - lit - 1] = 31
                lit = 0
                op += 1
    while ip < n:
        dst[op] = src[ip]
        op += 1
        ip += 1
        lit += 1
        if lit == 32:
            dst[op - lit - 1] = 31
            lit = 0
            op += 1
    if lit > 0:
        dst[op - lit - 1] = lit - 1
    else:
        op -= 1
    return op


def lzf_decompress(data: bytes | memoryview, expected_size: int, source: str) -> bytes:
    """Decompress LZF ``data`` that must expand to exactly ``expected_size`` bytes.

    The output buffer is ``expected_size`` bytes; the caller validates that size first.
    """
    src = np.frombuffer(data, dtype=np.uint8)
    # a 3-byte chunk expands to at most 264 bytes: refuse impossible sizes before allocating
    if expected_size > _MAX_MATCH * (src.shape[0] // 3 + 1):
        raise FormatError(
            f"{source}: {src.shape[0]} bytes of LZF data cannot expand to the declared "
            f"{expected_size} bytes (corrupt size field)"
        )
    dst = np.empty(expected_size, dtype=np.uint8)
    written = int(_decompress_into(src, dst))
    if written == _TRUNCATED:
        raise FormatError(f"{source}: LZF data ends in the middle of a chunk (truncated)")
    if written == _OUTPUT_OVERFLOW:
        raise FormatError(f"{source}: LZF data expands beyond the declared {expected_size} bytes")
    if written == _BAD_BACK_REFERENCE:
        raise FormatError(f"{source}: LZF back-reference points before the start of the data")
    if written != expected_size:
        raise FormatError(
            f"{source}: LZF data expands to {written} bytes, the header declares {expected_size}"
        )
    return dst.tobytes()


def lzf_compress(data: bytes | memoryview) -> bytes:
    """Compress ``data`` with LZF (liblzf-compatible stream, no header)."""
    src = np.frombuffer(data, dtype=np.uint8)
    dst = np.empty(src.shape[0] + src.shape[0] // 32 + 2, dtype=np.uint8)
    size = int(_compress_into(src, dst))
    return dst[:size].tobytes()
