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
    "classify_raw",
    "enrich_consistent",
    "enrich_entry",
    "for_each_address_space",
    "for_each_leaf_entry",
    "get_target",
    "lookup_address",
    "space_counts",
    "vma_counts",
)

__version__ = "0.1.0"

# drgn imports every installed plugin (drgn_softleaf.plugin, and with it this
# package) when it starts: the API is imported on first use, not here.
_WHERE = {
    "Kind": "classify",
    "LeafEntry": "classify",
    "Enricher": "enrich",
    "FolioInfo": "enrich",
    "SwapInfo": "enrich",
    "Leafops": "leafops",
    "SoftleafType": "leafops",
    "SwapTypeTable": "leafops",
    "Target": "target",
    "TargetError": "target",
    "get_target": "target",
}


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f"drgn_softleaf.{_WHERE.get(name, 'scan')}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(list(globals()) + list(__all__))
