"""search: the folder listing's index (folder, name, id) and, in PostgreSQL, the
function datetime filters call (ISO 8601 text to an instant, NULL when it is not one)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from accessio.search.filter_sql import INSTANT_FUNCTION
from accessio.search.indexes import NAME_INDEX, ensure_search_functions, name_index

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    ensure_search_functions(bind)
    bind.execute(sa.schema.CreateIndex(name_index(bind.dialect.name), if_not_exists=True))


def downgrade() -> None:
    bind = op.get_bind()
    op.execute(f"DROP INDEX IF EXISTS {NAME_INDEX}")
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {INSTANT_FUNCTION}(text)")
