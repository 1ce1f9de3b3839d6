"""api: the HTTP surface of tsapi (a Quart app built by :func:`api.app.create_app`)."""
