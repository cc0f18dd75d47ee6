"""Sharing requests: deciding them by the policy, the requester's amendments, reading them back, their history."""
