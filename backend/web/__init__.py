"""Pages for people (api.md "Pages for people"): served with a self-only Content-Security-Policy."""
