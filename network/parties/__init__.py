"""The parties: the partner registry, their contracts, and who is calling (API keys and the operator)."""
