"""Decision notices to the requester and to the person: whether one may be sent, what it says of the law, its forms."""
