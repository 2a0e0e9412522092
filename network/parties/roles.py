"""The roles a caller may hold, and the few rules that depend on the role rather than on the route.

Which role may call which route is declared on each view (`requires(...)` in
`network.api.common`) and printed as the README's role table by
`python -m network.api.role_table`; a test holds the README to it and
another calls every route as every role.
"""

from __future__ import annotations

#: The network operator's staff. The bootstrap token (COALITION_ADMIN_TOKEN) acts as an admin.
ADMIN, FINANCE, SUPPORT = "admin", "finance", "support"
#: A partner's own people (the portal's users) and its API keys (tills, shops, scripts).
PARTNER_ADMIN, PARTNER_STAFF, PARTNER_KEY = "partner_admin", "partner_staff", "partner_key"

STAFF_ROLES = (ADMIN, FINANCE, SUPPORT)
PARTNER_USER_ROLES = (PARTNER_ADMIN, PARTNER_STAFF)
PARTNER_ROLES = (PARTNER_ADMIN, PARTNER_STAFF, PARTNER_KEY)
ALL_ROLES = STAFF_ROLES + PARTNER_ROLES

#: What each role is for, as the README's table says it.
PURPOSE = {
    ADMIN: "the operator's administrators: everything",
    FINANCE: "settlement runs and statements, contracts, reconciliation, reports, the partner list; members without "
             "personal data",
    SUPPORT: "finding members, their history and personal data, cards, adjustments (within a limit), exports; nothing "
             "of settlement, tiers, rules or contracts",
    PARTNER_ADMIN: "a partner's administrator: its keys, webhook, adapter settings, rewards and users",
    PARTNER_STAFF: "a partner's staff: reads its transactions, members and statements",
    PARTNER_KEY: "a partner's API key: its tills and shops booking sales, refunds and redemptions",
}

#: Roles that see members' personal data (e-mail, name, full card numbers).
SEES_PERSONAL_DATA = frozenset({ADMIN, SUPPORT})

