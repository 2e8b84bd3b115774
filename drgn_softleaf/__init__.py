# SPDX-License-Identifier: LGPL-2.1-or-later
"""
drgn-softleaf
-------------

Classify every page-table leaf entry of a process the way the kernel does
(``include/linux/leafops.h``): present, none, swap, migration,
device-private, device-exclusive, hwpoison and markers, with their payload.

>>> from drgn_softleaf import for_each_leaf_entry
>>> for entry in for_each_leaf_entry(prog, pid=1234):
...     if entry.kind.is_migration:
...         print(hex(entry.addr), entry.kind.value, hex(entry.pfn))
"""

from drgn_softleaf.classify import Kind, LeafEntry
from drgn_softleaf.enrich import Enricher, FolioInfo, SwapInfo
from drgn_softleaf.leafops import Leafops, SoftleafType, SwapTypeTable
from drgn_softleaf.scan import (
    AddressLookup,
    AddressSpace,
    Enriched,
    ScanError,
    address_space,
    classify,
    enrich_entry,
    for_each_address_space,
    for_each_leaf_entry,
    lookup_address,
    space_counts,
    vma_counts,
)
from drgn_softleaf.target import Target, TargetError, get_target

__all__ = (
    "AddressLookup",
    "AddressSpace",
    "Enriched",
    "Enricher",
    "FolioInfo",
    "Kind",
    "LeafEntry",
    "Leafops",
    "ScanError",
    "SoftleafType",
    "SwapInfo",
    "SwapTypeTable",
    "Target",
    "TargetError",
    "address_space",
    "classify",
    "enrich_entry",
    "for_each_address_space",
    "for_each_leaf_entry",
    "get_target",
    "lookup_address",
    "space_counts",
    "vma_counts",
)

__version__ = "0.1.0"
