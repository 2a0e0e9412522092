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

#: Roles that see members' personal data (e-mail, name, full card numbers).
SEES_PERSONAL_DATA = frozenset({ADMIN, SUPPORT})

