"""The entry point: `flask --app app run`, `gunicorn app:app`."""

from campaigns import create_app

app = create_app()
