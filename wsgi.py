"""`app` for gunicorn and `flask --app wsgi`, configured from the environment."""

from backend.app import create_app
from backend.observe import logs

logs.configure()  # JSON lines on stderr, under gunicorn and `flask --app wsgi …` alike
app = create_app()
