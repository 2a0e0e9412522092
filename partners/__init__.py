"""The partner boundary: what a retailer's system hands the hub, in the hub's terms.

Nothing here imports Flask or SQLAlchemy, so adapters and rules written
against it run and test without a server or a database.
"""
