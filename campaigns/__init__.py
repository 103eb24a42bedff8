"""The Fee Campaigns application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import INSTANCE, ROOT, Config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config -> extensions -> blueprints -> errors -> cli. No side effects."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(Config().as_dict())
    if config:
        app.config.from_mapping(config)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "SECRET_KEY is not set: export SECRET_KEY, or run `make run`, which writes "
            "instance/secret_key on first start."
        )
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    if app.config.get("CRASH_AFTER_ROWS"):
        from .crashpoint import install

        install(int(app.config["CRASH_AFTER_ROWS"]))
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (every model registered before migrations look)
    from .accounts.views import load_user
    from .extensions import csrf, db, login_manager, migrate
    from .security import init_security
    from .templating import init_templating

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)
    init_security(app)
    init_templating(app)


def register_blueprints(app: Flask) -> None:
    from .accounts import bp as accounts_bp
    from .benchmark import bp as analysis_bp
    from .fees import bp as fees_bp
    from .letters import bp as letters_bp
    from .main import bp as main_bp
    from .negotiations import bp as campaigns_bp
    from .payers import bp as payers_bp
    from .reminders import bp as reminders_bp

    for blueprint in (
        main_bp,
        accounts_bp,
        payers_bp,
        fees_bp,
        analysis_bp,
        campaigns_bp,
        letters_bp,
        reminders_bp,
    ):
        app.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    from .errors import init_errors

    init_errors(app)


def register_commands(app: Flask) -> None:
    from .cli import init_cli

    init_cli(app)
