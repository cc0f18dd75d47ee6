"""The HTTP edge beside the routers: tokens and roles, dependencies, ETags, locations, limits,
correlation, rate limits, multipart."""
