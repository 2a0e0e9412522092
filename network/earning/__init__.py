"""Earning: a partner's transactions read, booked as points, refunded, and the bonuses and adjustments beside them."""
