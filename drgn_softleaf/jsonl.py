# SPDX-License-Identifier: LGPL-2.1-or-later
"""
JSON Lines in bulk
------------------

The JSON Lines of a listing (:meth:`drgn_softleaf.scan.Listing.batches`),
written the fast way: runs of ordinary present PTEs, the bulk of any
address space, straight from the batch's arrays through one template per
combination of flags (:func:`drgn_softleaf.fastjson.format_lines_at`); a
value repeated many times from one template with the address filled in;
every other entry through :func:`drgn_softleaf.schema.entry_json`. All give
the same text for the same entry (the tests compare them). Nothing here
classifies or checks an entry: the stream brings it decoded.
"""

import json
from typing import IO, Any, Dict, Iterable, List, Tuple, Union

from drgn_softleaf.fastjson import format_lines_at
from drgn_softleaf.scan import AddressSpace, Enriched, EntryBatch
from drgn_softleaf.schema import JSON_SCHEMA_VERSION, entry_json, write_json_line

__all__ = ("write_entries_jsonl",)

# Stand-ins for the address in a JSON template (no kernel string holds NUL).
_ADDR_TOKEN = json.dumps("\0addr\0")
_HEX_TOKEN = json.dumps("\0addr_hex\0")


class _Out:
    """Writes text to *out*; bulk text (ASCII bytes) to the binary stream
    under it when there is one (after what *out* holds), else decoded."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.text = out.write
        self.binary = getattr(out, "buffer", None)

    def ascii(self, data: Any) -> None:
        if self.binary is not None:
            self.out.flush()
            self.binary.write(data)
        else:
            self.text(bytes(data).decode("ascii"))


def write_entries_jsonl(out: IO[str], space: AddressSpace,
                        stream: Iterable[Union[Enriched, EntryBatch]]) -> None:
    """Write the JSON Lines of the entries of *stream*, in its order."""
    head = json.dumps({"schema": JSON_SCHEMA_VERSION, "pid": space.pid, "comm": space.comm},
                      separators=(",", ":"))[:-1].encode()
    w = _Out(out)
    for item in stream:
        if isinstance(item, EntryBatch):
            _write_batch(w, space, head, item)
        else:
            write_json_line(out, entry_json(space, item))


def _present_templates(head: bytes, batch: EntryBatch, page_size: int
                       ) -> Tuple[List[bytes], List[bytes]]:
    """The constant parts of a present PTE's line in *batch*'s VMA, and the
    end of the line for each way: 2 * flag combination + PROT_NONE."""
    vma = batch.vma
    tail = json.dumps({"vma_start": vma.start, "vma_start_hex": f"{vma.start:#x}",
                       "vma_end": vma.end, "vma_end_hex": f"{vma.end:#x}",
                       "vma_flags": vma.flags, "vma_file": vma.file},
                      separators=(",", ":"))[1:-1].encode()
    parts = [head + b',"addr":', b',"addr_hex":"0x',
             b'","size":%d,"level":"pte","raw":' % page_size,
             b',"raw_hex":"0x', b'","kind":"present",' + tail + b',"pfn":']
    ends = []
    for way in range(2 * len(batch.flag_sets)):
        names, reason = batch.flag_sets[way >> 1]
        flags = json.dumps(list(names), separators=(",", ":")).encode()
        ends.append((b',"protnone":true,"protnone_reason":' + json.dumps(reason or "").encode()
                     if way & 1 else b',"protnone":false') + b',"flags":' + flags
                    + b',"anomalies":[]}\n')
    return parts, ends


def _write_batch(w: _Out, space: AddressSpace, head: bytes, batch: EntryBatch) -> None:
    """
    One batch: each slot's way is its present template (see
    :func:`_present_templates`), SLOW (an enriched entry) or SKIP (not
    listed); the lines of each present way are made all at once, then cut
    into the runs that fall between the others.
    """
    import numpy as np

    parts, ends = _present_templates(head, batch, _page_size(space))
    bulk_ways = len(ends)
    slow, skip = bulk_ways, bulk_ways + 1
    way = np.full(len(batch.raws), skip, dtype=np.int16)
    way[batch.bulk] = (2 * batch.combos + batch.protnone)[batch.bulk]
    slow_text: Dict[int, str] = {}
    for rows, e in batch.others:
        way[rows] = slow
        slow_text.update(zip(rows.tolist(), _enriched_lines(space, e, batch.addrs[rows])))
    first_way = int(way[0])
    if first_way < bulk_ways and not (way != first_way).any():
        # The common case: the whole batch one template.
        w.ascii(format_lines_at(parts + [ends[first_way]], [
            (batch.addrs, "d"), (batch.addrs, "x"), (batch.raws, "d"),
            (batch.raws, "x16"), (batch.pfns, "d")])[0])
        return
    bulk: Dict[int, Tuple[Any, List[int], Any]] = {}
    for k in np.unique(way[way < bulk_ways]).tolist():
        rows = np.flatnonzero(way == k)
        text, offsets = format_lines_at(parts + [ends[k]], [
            (batch.addrs[rows], "d"), (batch.addrs[rows], "x"), (batch.raws[rows], "d"),
            (batch.raws[rows], "x16"), (batch.pfns[rows], "d")])
        # Row i of the batch is line rank[i] of its way's text.
        bulk[k] = (memoryview(text), offsets.tolist(), np.cumsum(way == k) - 1)
    cuts = np.flatnonzero(np.diff(way)) + 1
    bounds = [0] + cuts.tolist() + [len(way)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        k = int(way[lo])
        if k < bulk_ways:
            text, offsets, rank = bulk[k]
            w.ascii(text[offsets[int(rank[lo])]:offsets[int(rank[hi - 1]) + 1]])
        elif k == slow:
            w.text("".join(slow_text[i] for i in range(lo, hi)))


def _page_size(space: AddressSpace) -> int:
    from drgn_softleaf.target import get_target

    return 1 << get_target(space.mm.prog_).layout.page_shift


def _enriched_lines(space: AddressSpace, e: Enriched, addrs: Any) -> List[str]:
    """The lines of entry *e* at each of *addrs* (its own address first):
    one line made as is, several from one template."""
    if len(addrs) == 1:
        return [json.dumps(entry_json(space, e), separators=(",", ":")) + "\n"]
    obj = entry_json(space, e)
    obj["addr"], obj["addr_hex"] = "\0addr\0", "\0addr_hex\0"
    head, rest = json.dumps(obj, separators=(",", ":")).split(_ADDR_TOKEN)
    middle, tail = rest.split(_HEX_TOKEN)
    lines, offsets = format_lines_at(
        [head.encode(), (middle + '"0x').encode(), ('"' + tail + "\n").encode()],
        [(addrs, "d"), (addrs, "x")])
    text = lines.decode("ascii")
    return [text[offsets[k]:offsets[k + 1]] for k in range(len(addrs))]
