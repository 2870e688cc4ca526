"""Whether anything issued names an institution: what a change of its public URL needs to
know to decide if the address it leaves must stay its own (`core.identity.moved`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, inspect, or_, select

from .tables import DiplomaRow


def issued_since(engine: Engine, slug: str, since: datetime) -> bool:
    """True when a diploma issued at or after `since` names institution `slug`, as its
    issuer or as one of its co-issuers."""
    names_it = or_(
        DiplomaRow.institution == slug,
        DiplomaRow.co_issuers == slug,
        DiplomaRow.co_issuers.like(f"{slug},%"),
        DiplomaRow.co_issuers.like(f"%,{slug}"),
        DiplomaRow.co_issuers.like(f"%,{slug},%"),
    )
    query = select(DiplomaRow.id).where(DiplomaRow.issued_at >= since, names_it).limit(1)
    with engine.connect() as connection:
        if not inspect(connection).has_table(DiplomaRow.__tablename__):
            return False  # a database `init` has not made yet holds no diploma
        return connection.execute(query).first() is not None
