"""What a settings form may change, read straight from the database: equal before and after a refused form.

The ledger's `snapshot` counts rows and balances; a refused change of a
partner's settings, a contract or the tier ladder would change neither, so
these read the settings themselves, the settings version and the audit
trail's length.
"""

from __future__ import annotations

from sqlalchemy import func, select

from network.models import AuditEvent, Contract, Partner, Tier
from network.parties.auth import settings_version


def settings(database) -> dict:
    """Every partner's settings, every contract version, the ladder, the settings version, the audit trail's length."""
    def work(session):
        partners = session.execute(select(Partner.slug, Partner.name, Partner.timezone, Partner.adapter, Partner.adapter_config,
                                          Partner.rules, Partner.pending_days, Partner.points_per_unit)
                                   .order_by(Partner.id)).all()
        contracts = session.execute(select(Contract.partner_id, Contract.effective_from, Contract.issue_fee,
                                           Contract.redeem_rate).order_by(Contract.id)).all()
        ladder = session.execute(select(Tier.position, Tier.name, Tier.threshold, Tier.multiplier).order_by(Tier.position)).all()
        return {"partners": [tuple(row) for row in partners], "contracts": [tuple(row) for row in contracts],
                "tiers": [tuple(row) for row in ladder], "version": settings_version(session),
                "events": session.scalar(select(func.count()).select_from(AuditEvent))}

    return database.read(work)


def last_event(database) -> AuditEvent:
    """The audit trail's newest event."""
    return database.read(lambda session: session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one())
