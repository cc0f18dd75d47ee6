"""Policies: the registry of versions, editions and their hold, what-if replay, the bank-holiday calendar."""
