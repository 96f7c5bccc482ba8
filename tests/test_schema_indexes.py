"""Schema changes through the API keep the search indexes in step, in the same transaction."""

from __future__ import annotations

from accessio.catalog.metadata_schema import Hint, Scalar
from accessio.search.filter_sql import key_kind
from accessio.search.indexes import existing_indexes, key_index_name
from accessio.service import Accessio


def _indexes(app: Accessio) -> set[str]:
    with app.engine.connect() as conn:
        return existing_indexes(conn)


def test_a_typed_key_gets_its_index_and_loses_it_when_deleted(catalog_url: str) -> None:
    with Accessio(catalog_url) as app:
        before = _indexes(app)
        app.schema_add_scalar("frames", "number")
        added = _indexes(app) - before
        name = key_index_name("frames", key_kind(Scalar(Hint.NUMBER)) or "")
        assert added == {name}
        app.schema_delete("frames")  # soft: the key is no longer live, filters stop using it
        assert name not in _indexes(app)
        app.schema_restore("frames")
        assert name in _indexes(app)
        app.schema_add_enum("weather", ["sunny", "rainy"])
        assert len(_indexes(app) - before) == 2
