"""The one error type for data problems the user must fix (empty set, single class, too many bad files).

It lives in ``nightscan_edge.errors`` with the other roots (the run folder's readers raise it too); this
module keeps the import path the data package has always used.
"""

from nightscan_edge.errors import DataError

__all__ = ["DataError"]
