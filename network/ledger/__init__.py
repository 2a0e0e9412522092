"""The ledger of the shared currency: accounts, journal entries, postings, lots and the checks that hold them."""
