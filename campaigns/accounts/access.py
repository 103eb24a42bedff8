"""The single decorator that enforces sign-in, the forced password change and roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, request, url_for
from flask_login import current_user

from ..web import redirect_to
from .models import Role

READ = (Role.OWNER, Role.MANAGER, Role.VIEWER)
EDIT = (Role.OWNER, Role.MANAGER)
OWNER = (Role.OWNER,)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def roles(*allowed: Role, write: tuple[Role, ...] | None = None) -> Callable:
    """Allow the view to signed-in users with one of `allowed` roles.

    `write`, when given, narrows the roles for state-changing methods (a page that viewers
    may read but only managers may post to). Anonymous users go to the login page; users
    with a temporary password go to the password page first; a role not allowed answers 403.
    """
    allowed_set = frozenset(allowed)
    write_set = frozenset(write) if write is not None else allowed_set

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect_to(url_for("accounts.login", next=request.full_path))
            if current_user.must_change_password and request.endpoint != "accounts.profile":
                return redirect_to(url_for("accounts.profile"))
            permitted = allowed_set if request.method in SAFE_METHODS else write_set
            if current_user.role not in permitted:
                abort(403)
            return view(*args, **kwargs)

        # read by the route x role test matrix
        wrapper.allowed_roles = allowed_set
        wrapper.write_roles = write_set
        return wrapper

    return decorator
