"""One router per domain; ``backend.api.app.create_app`` mounts them all."""
