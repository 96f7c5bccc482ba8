"""Object storage: where an object URL points, and how to reach it."""
