"""The controller's checks before anything is disclosed (brief section 5):
which a decision opens, and recording them."""
