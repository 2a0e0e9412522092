"""Members: enrolment, cards, merges, their personal data, its export and erasure, and their history."""
