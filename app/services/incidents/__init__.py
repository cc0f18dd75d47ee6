"""Incidents with disclosures: recorded by anyone inside the controller, graded on the policy's scales, reported to
the ICO within 72 hours when reportable, the data recalled from its recipient, and closed with the lessons learnt."""
