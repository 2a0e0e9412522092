"""The programme's figures for any span: members, points, return after a reward, cohorts and a member's value.

Every figure is an SQL aggregate over the ledger and the members (one row
per figure or per group, never a row per member), reading the same
settlement figures a statement is closed with. It reads the hub's models
and settlement's figures and imports no HTTP layer: the API, the desk and
the CLI hand it out.
"""
