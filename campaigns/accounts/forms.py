"""Forms for signing in, passwords, users and practices."""

from __future__ import annotations

import zoneinfo

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..forms_common import TextField, optional_text, percent_to_bp, stripped
from .models import Role

ROLE_CHOICES = [
    (Role.OWNER.value, "Owner - everything, including users and settings"),
    (Role.MANAGER.value, "Manager - all campaign and data work"),
    (Role.VIEWER.value, "Viewer - read-only, sees outcomes"),
]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)], filters=[stripped])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in on this computer")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[Optional()])
    new_password = PasswordField("New password", validators=[InputRequired()])
    confirm_password = PasswordField("New password again", validators=[InputRequired()])


class UserCreateForm(FlaskForm):
    name = TextField("Name", validators=[DataRequired(), Length(max=200)])
    email = EmailField(
        "Email",
        validators=[
            InputRequired(),
            Email(message="Enter a valid email address."),
            Length(max=254),
        ],
        filters=[stripped],
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.MANAGER.value)
    all_practices = BooleanField("May see all practices", default=True)
    practices = SelectMultipleField("Or only these practices", coerce=int, choices=[])

    def validate_practices(self, field):
        if self.role.data != Role.OWNER.value and not self.all_practices.data and not field.data:
            raise ValidationError("Choose at least one practice, or allow all practices.")


class UserEditForm(UserCreateForm):
    email = None  # the email is the sign-in name; it is not edited here
    active = BooleanField("Active (may sign in)")


def validate_time_zone(_form, field):
    if field.data not in zoneinfo.available_timezones():
        raise ValidationError("Choose a time zone such as America/Chicago.")


def validate_follow_ups(_form, field):
    parts = [p.strip() for p in (field.data or "").split(",") if p.strip()]
    try:
        days = [int(p) for p in parts]
    except ValueError:
        raise ValidationError("Enter whole days separated by commas, e.g. 30, 60, 90.") from None
    if not days or any(d < 1 or d > 365 for d in days) or days != sorted(set(days)):
        raise ValidationError("Enter increasing days between 1 and 365, e.g. 30, 60, 90.")
    field.data = ",".join(str(d) for d in days)


class PercentField(TextField):
    """A percentage typed as '5' or '7.5', stored as basis points in `bp`."""

    bp: int | None = None

    def pre_validate(self, form):
        self.bp = percent_to_bp(self.data)


class PracticeForm(FlaskForm):
    name = TextField("Practice name", validators=[DataRequired(), Length(max=200)])
    address = TextAreaField("Address", validators=[Optional(), Length(max=500)], filters=[stripped])
    phone = optional_text("Phone", 40)
    time_zone = TextField(
        "Time zone", validators=[InputRequired(), validate_time_zone], default="America/New_York"
    )
    tin = optional_text("Tax id (TIN)", 20)
    npi = optional_text("NPI", 20)
    re_review_months = IntegerField(
        "Re-review every (months)",
        default=12,
        validators=[InputRequired(), NumberRange(1, 60, "Between 1 and 60 months.")],
    )
    follow_up_days = TextField(
        "Follow up after (days)",
        default="30, 60, 90",
        validators=[InputRequired(), validate_follow_ups],
    )
    min_raise = PercentField("Minimum raise to ask (%)", default="5")
    analysis_period_months = IntegerField(
        "Analysis period (months)",
        default=12,
        validators=[InputRequired(), NumberRange(1, 36, "Between 1 and 36 months.")],
    )
    leverage_share = PercentField("Leverage: share of production at least (%)", default="15")
    leverage_scarce_count = IntegerField(
        "Leverage: scarce-category procedures a year at least",
        default=50,
        validators=[InputRequired(), NumberRange(0, 100000)],
    )
    leverage_max_providers = IntegerField(
        "Leverage: in-network providers nearby at most",
        default=3,
        validators=[InputRequired(), NumberRange(0, 1000)],
    )
    leverage_radius_miles = IntegerField(
        "Leverage: within (miles)", default=10, validators=[InputRequired(), NumberRange(1, 500)]
    )

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "address": self.address.data or "",
            "phone": self.phone.data or "",
            "time_zone": self.time_zone.data,
            "tin": self.tin.data or "",
            "npi": self.npi.data or "",
            "re_review_months": self.re_review_months.data,
            "follow_up_days": self.follow_up_days.data,
            "min_raise_bp": self.min_raise.bp,
            "analysis_period_months": self.analysis_period_months.data,
            "leverage_share_bp": self.leverage_share.bp,
            "leverage_scarce_count": self.leverage_scarce_count.data,
            "leverage_max_providers": self.leverage_max_providers.data,
            "leverage_radius_miles": self.leverage_radius_miles.data,
        }
