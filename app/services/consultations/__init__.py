"""Consultations inside a case: the claim holder asks a key relationship of the controller, who answers."""
