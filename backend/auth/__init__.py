"""People and their access: users with one role each, hashed API tokens, argon2 passwords, and
the permission each role holds (``roles``)."""
