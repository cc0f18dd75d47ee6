"""The information asset register: the assets that hold the controller's data, their owners, and which of them hold
the items of an approved request."""
