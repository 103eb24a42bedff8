"""Imports every model module so the metadata is complete (Alembic, tests, the shell)."""

from .accounts.models import AuditEvent, LoginAttempt, Organization, Practice, User  # noqa: F401
from .benchmark.models import DataVersion  # noqa: F401
from .fees.models import (  # noqa: F401
    CarrierAlias,
    CodeVolume,
    FeeLine,
    FeeSchedule,
    ImportBatch,
    MappingProfile,
    ProcedureCode,
)
from .jobs.models import Job  # noqa: F401
from .letters.models import Letter, LetterTemplate  # noqa: F401
from .negotiations.models import (  # noqa: F401
    Activity,
    Attachment,
    Campaign,
    CampaignCode,
    LeverageFact,
    Round,
    StepRecord,
)
from .payers.models import Contact, Contract, Network, Payer, PricingRoute  # noqa: F401
from .reminders.models import (  # noqa: F401
    Notification,
    OutboxMessage,
    Reminder,
    ReminderPreference,
    ReminderSettings,
)
