# SPDX-License-Identifier: LGPL-2.1-or-later
"""
Bulk text formatting
--------------------

Format many lines of one shape at once with NumPy: constant text with
64-bit integers between, written in decimal or hexadecimal exactly as
Python's ``%d``, ``%#x`` and ``%#018x`` would write them. This is how
the JSON Lines of millions of ordinary present entries are made at the
speed of the rest of a scan; the result is byte for byte what formatting
each line with ``%`` gives (the tests compare both).

>>> format_lines([b'{"a":', b',"b":"0x', b'"}\\n'], [(np.array([1, 20]), "d"),
...                                                  (np.array([255, 16]), "x")])
b'{"a":1,"b":"0xff"}\\n{"a":20,"b":"0x10"}\\n'
"""

from typing import Any, Sequence, Tuple

__all__ = ("format_lines", "format_lines_at")

_cache: dict = {}


def _np() -> Any:
    import numpy as np

    return np


def _tables() -> Tuple[Any, Any, Any, Any]:
    """Digit lookup tables: the four ASCII decimal digits of 0..9999 as one
    ``uint32`` each, the four hex digits of 0..0xffff as one ``uint32``, and
    the powers of 10 and 16."""
    t = _cache.get("tables")
    if t is None:
        np = _np()
        dec4 = np.frombuffer(b"".join(b"%04d" % i for i in range(10000)), dtype="<u4")
        hex4 = np.frombuffer(b"".join(b"%04x" % i for i in range(65536)), dtype="<u4")
        pow10 = np.array([10 ** k for k in range(1, 20)], dtype=np.uint64)
        pow16 = np.array([16 ** k for k in range(1, 16)], dtype=np.uint64)
        t = _cache["tables"] = (dec4, hex4, pow10, pow16)
    return t


def _lengths(values: Any, how: str) -> Any:
    """How many characters each value takes, written as *how* says."""
    np = _np()
    _, _, pow10, pow16 = _tables()
    if how == "d":
        return np.searchsorted(pow10, values, side="right") + 1
    if how == "x":
        return np.searchsorted(pow16, values, side="right") + 1
    return np.full(len(values), 16, dtype=np.intp)


def _column(block: Any, col: int, dtype: str) -> Any:
    """The (unaligned) column of *dtype* at byte *col* of every row of
    *block*, as a writable view."""
    np = _np()
    return np.ndarray((block.shape[0],), dtype=dtype, buffer=block, offset=col,
                      strides=(block.shape[1],))


def _write(block: Any, col: int, width: int, values: Any, how: str, template: bytes) -> None:
    """
    Write *values* at byte *col* of the rows of *block*, *width* characters
    each (their exact length), in decimal or hex, four characters at a time
    from the right. The leftmost group of four may start before *col*: the
    bytes it covers there (from *template*, the row's constant text) are
    written again after it.
    """
    np = _np()
    dec4, hex4, _, _ = _tables()
    end = col + width
    groups = (width + 3) // 4
    x = values
    ten4 = np.uint64(10000)
    mask16 = np.uint64(0xFFFF)
    for k in range(groups):
        # (Indexes as intp: older NumPy refuses to index with uint64.)
        if how == "d":
            q = x // ten4
            digits = np.take(dec4, (x - q * ten4).astype(np.intp))
            x = q
        else:
            digits = np.take(hex4, ((values >> np.uint64(16 * k)) & mask16).astype(np.intp))
        _column(block, end - 4 * (k + 1), "<u4")[:] = digits
    for pos in range(end - 4 * groups, col):
        _column(block, pos, "u1")[:] = template[pos]


# Rows formatted at a time: a block of them stays in the CPU cache while
# each column is written.
_CHUNK = 4096


def format_lines(parts: Sequence[bytes], fields: Sequence[Tuple[Any, str]]) -> bytes:
    """
    Return ``parts[0] + field[0] + parts[1] + ... + parts[-1]`` for every
    row, concatenated.

    :param parts: The constant text around the fields (one more than
        *fields*); the last ends with the only newline of a line.
    :param fields: (``uint64`` array, how), with how ``"d"`` (``%d``),
        ``"x"`` (hex digits of ``%#x``, with ``0x`` in the part before) or
        ``"x16"`` (the 16 digits of ``%#018x``, ``0x`` in the part
        before).
    """
    return format_lines_at(parts, fields)[0]


def format_lines_at(parts: Sequence[bytes],
                    fields: Sequence[Tuple[Any, str]]) -> Tuple[bytes, Any]:
    """
    :func:`format_lines`, and where each line starts in the result (an
    array of one more offset than rows: the last is the end), so that runs
    of lines can be cut out of it.
    """
    np = _np()
    assert len(parts) == len(fields) + 1 and parts[-1].endswith(b"\n")
    # _write() writes up to three bytes before a field: the text before it
    # must be that long.
    assert all(len(p) >= 3 for p in parts[:-1])
    n = len(fields[0][0]) if fields else 0
    chunks = [_format_chunk(parts, [(v[i:i + _CHUNK], how) for v, how in fields])
              for i in range(0, n, _CHUNK)]
    offsets = np.zeros(n + 1, dtype=np.intp)
    if chunks:
        np.cumsum(np.concatenate([lengths for _, lengths in chunks]), out=offsets[1:])
    return b"".join(text for text, _ in chunks), offsets


def _format_chunk(parts: Sequence[bytes],
                  fields: Sequence[Tuple[Any, str]]) -> Tuple[bytes, Any]:
    """Up to :data:`_CHUNK` lines, and the length of each."""
    np = _np()
    n = len(fields[0][0])
    values = [np.asarray(v, dtype=np.uint64) for v, _ in fields]
    hows = [how for _, how in fields]
    lengths = [_lengths(v, how) for v, how in zip(values, hows)]
    const = sum(len(p) for p in parts)
    # Field lengths are at most 20: five bits each make one key per shape
    # (the length of every field). Rows of one shape have every piece at
    # the same columns: they are made together, as one block.
    code = np.zeros(n, dtype=np.int64)
    for length in lengths:
        code = (code << 5) | length
    if (code == code[0]).all():
        keys, inverse = code[:1], None
    else:
        keys, inverse = np.unique(code, return_inverse=True)
        inverse = inverse.reshape(-1)
    line_len = const + sum(lengths)
    out = None
    if len(keys) > 1:
        starts = np.zeros(n, dtype=np.intp)
        np.cumsum(line_len[:-1], out=starts[1:])
        out = np.empty(int(starts[-1] + line_len[-1]), dtype=np.uint8)
    nfields = len(fields)
    for g, packed in enumerate(keys.tolist()):
        widths = [(packed >> (5 * (nfields - 1 - i))) & 31 for i in range(nfields)]
        rows = None if out is None else np.flatnonzero(inverse == g)
        template = b"".join(p + b" " * w for p, w in zip(parts, widths + [0]))
        block = np.empty((n if rows is None else len(rows), len(template)), dtype=np.uint8)
        block[:] = np.frombuffer(template, dtype=np.uint8)
        col = 0
        for i in range(nfields):
            col += len(parts[i])
            _write(block, col, widths[i], values[i] if rows is None else values[i][rows],
                   hows[i], template)
            col += widths[i]
        if out is None:
            return block.tobytes(), line_len
        # Each row to its place: rows of out starting at every byte, as a
        # view, indexed by where each line starts.
        from numpy.lib.stride_tricks import as_strided

        view = as_strided(out, shape=(len(out) - block.shape[1] + 1, block.shape[1]),
                          strides=(1, 1), writeable=True)
        view[starts[rows]] = block
    assert out is not None
    return out.tobytes(), line_len
