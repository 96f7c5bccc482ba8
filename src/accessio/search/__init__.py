"""Search: the filter language, sorting and keyset paging over a folder's items, and
the indexes that keep them fast.

>>> from accessio.search import parse_filter, to_text
>>> to_text(parse_filter('site in ("Algiers", "Oran") and frames > 100').root)
'site in ("Algiers", "Oran") and frames > 100'
"""

from accessio.search.filter_sql import compile_filter
from accessio.search.filter_syntax import Filter, FilterError, parse_field, parse_filter, to_text
from accessio.search.indexes import sync_key_indexes
from accessio.search.listing import Page, query_items

__all__ = [
    "Filter",
    "FilterError",
    "Page",
    "compile_filter",
    "parse_field",
    "parse_filter",
    "query_items",
    "sync_key_indexes",
    "to_text",
]
