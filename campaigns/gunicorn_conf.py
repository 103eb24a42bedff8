"""gunicorn settings for Fee Campaigns: `gunicorn -c python:campaigns.gunicorn_conf app:app`.

`make run` uses this file too. Every value can be changed from the environment, so a
deployment sets variables instead of editing it (docs/operations.md)."""

import os

bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# A request that takes longer than this is stopped and its worker restarted (large imports
# and batches of letters run in the scheduler process, not in a request).
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Behind a reverse proxy on the same host, trust its X-Forwarded-* headers (HTTPS, client
# address); set FORWARDED_ALLOW_IPS to the proxy's address when it runs elsewhere.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("ACCESS_LOG", "-")
errorlog = "-"
# Restart workers now and then so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
# Never preload: each worker creates the app (and its database pool) after the fork.
preload_app = False
