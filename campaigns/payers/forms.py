"""Forms for payers, networks, contracts, contacts and pricing routes."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, IntegerField, SelectField, TextAreaField
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..forms_common import TextField, optional_text, stripped
from .models import NetworkKind


def _notes() -> TextAreaField:
    return TextAreaField("Notes", validators=[Optional(), Length(max=4000)], filters=[stripped])


class PayerForm(FlaskForm):
    name = TextField(
        "Payer name", validators=[DataRequired("Enter the payer's name."), Length(max=200)]
    )
    payer_id = optional_text("Payer id (electronic)", 40)
    notes = _notes()

    def values(self) -> dict:
        return {
            "name": self.name.data,
            "payer_id": self.payer_id.data or "",
            "notes": self.notes.data or "",
        }


KIND_CHOICES = [
    (NetworkKind.DIRECT.value, "Direct - the payer's own PPO network"),
    (NetworkKind.LEASED.value, "Leased - rented to other payers"),
    (NetworkKind.UMBRELLA.value, "Umbrella - one contract for many payers"),
]


class NetworkForm(FlaskForm):
    name = TextField(
        "Network name", validators=[DataRequired("Enter the network's name."), Length(max=200)]
    )
    kind = SelectField("Kind", choices=KIND_CHOICES, default=NetworkKind.DIRECT.value)
    owner_payer_id = SelectField("Owned by payer (direct networks)", coerce=int, choices=[])
    notes = _notes()

    def validate_owner_payer_id(self, field):
        if self.kind.data == NetworkKind.DIRECT.value and not field.data:
            raise ValidationError("A direct network belongs to a payer: choose it.")


class ContractForm(FlaskForm):
    practice_id = SelectField("Practice", coerce=int, choices=[])
    network_id = SelectField("Network", coerce=int, choices=[])
    effective_date = DateField("Effective date", validators=[Optional()])
    renewal_date = DateField("Renewal date", validators=[Optional()])
    notice_days = IntegerField(
        "Notice window (days before renewal)", validators=[Optional(), NumberRange(0, 730)]
    )
    auto_renew = BooleanField("Renews automatically", default=True)
    min_months_between_changes = IntegerField(
        "Minimum months between fee changes", validators=[Optional(), NumberRange(0, 120)]
    )
    mfn_clause = BooleanField("Has a most-favoured-nation clause")
    pr_address = TextAreaField(
        "Provider-relations address", validators=[Optional(), Length(max=500)], filters=[stripped]
    )
    pr_email = EmailField(
        "Provider-relations email",
        validators=[Optional(), Email("Enter a valid email address."), Length(max=254)],
        filters=[stripped],
    )
    pr_phone = optional_text("Provider-relations phone", 40)
    portal_url = TextField(
        "Portal URL",
        validators=[
            Optional(),
            URL(message="Enter a full address starting with https://"),
            Length(max=500),
        ],
    )
    notes = _notes()

    def validate_renewal_date(self, field):
        if field.data and self.effective_date.data and field.data <= self.effective_date.data:
            raise ValidationError("The renewal date comes after the effective date.")


class ContactForm(FlaskForm):
    name = TextField(
        "Name", validators=[DataRequired("Enter the contact's name."), Length(max=200)]
    )
    role = optional_text("Role", 120)
    email = EmailField(
        "Email",
        validators=[Optional(), Email("Enter a valid email address."), Length(max=254)],
        filters=[stripped],
    )
    phone = optional_text("Phone", 40)


class ArchiveForm(FlaskForm):
    """Only the CSRF token: archive and restore buttons."""
