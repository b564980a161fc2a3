"""`app` for gunicorn and `flask --app wsgi`, configured from the environment."""

from backend.app import create_app

app = create_app()
