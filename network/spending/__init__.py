"""Spending: redemptions at a till, two-phase holds, and the partners' reward catalogues."""
