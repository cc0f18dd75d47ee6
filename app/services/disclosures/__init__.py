"""Disclosures actually made: opened when an approval is ready to disclose, recorded by the assets' owners."""
