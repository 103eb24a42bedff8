"""A real SMTP server for the reminder tests (aiosmtpd on 127.0.0.1, a free port) and the
arrangement of a practice, its people, a contract and campaigns."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from campaigns.accounts.models import Role
from campaigns.extensions import db
from campaigns.modelbase import utcnow
from campaigns.negotiations.models import Campaign, Status, Step
from tests.factories import (
    ContractFactory,
    NetworkFactory,
    OrganizationFactory,
    PracticeFactory,
    UserFactory,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class Collector:
    """Keeps every message the server accepted; `refuse` answers 550 for these recipients."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    collector: Collector = field(default_factory=Collector)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Received]:
        return list(self.collector.messages)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


@dataclass
class Office:
    org_id: int
    practice_id: int
    other_practice_id: int
    contract_id: int
    owner_id: int
    manager_id: int
    viewer_id: int
    limited_id: int  # a manager who sees only the other practice


def build_office(time_zone: str = "America/New_York", renewal: date | None = None) -> Office:
    org = OrganizationFactory(name="Reminder Dental")
    practice = PracticeFactory(org=org, name="Main Street Dental", time_zone=time_zone)
    other = PracticeFactory(org=org, name="Other Office", time_zone="America/Los_Angeles")
    owner = UserFactory(org=org, email="olga@reminder.test", role=Role.OWNER, name="Olga")
    manager = UserFactory(org=org, email="manny@reminder.test", role=Role.MANAGER, name="Manny")
    viewer = UserFactory(org=org, email="vera@reminder.test", role=Role.VIEWER, name="Vera")
    limited = UserFactory(
        org=org, email="lim@reminder.test", role=Role.MANAGER, name="Lim", all_practices=False
    )
    limited.practices = [other]
    network = NetworkFactory(org=org, name="Delta PPO")
    contract = ContractFactory(
        practice=practice, network=network, renewal_date=renewal, notice_days=90
    )
    db.session.flush()
    return Office(
        org.id, practice.id, other.id, contract.id, owner.id, manager.id, viewer.id, limited.id
    )


def add_campaign(office: Office, contract_id: int | None = None, **fields) -> int:
    now = utcnow()
    values = {
        "organization_id": office.org_id,
        "practice_id": office.practice_id,
        "contract_id": contract_id or office.contract_id,
        "owner_id": office.manager_id,
        "step": Step.REQUEST,
        "status": Status.OPEN,
        "opened_on": date(2026, 1, 2),
        "step_entered_at": now,
        "updated_at": now,
        **fields,
    }
    campaign = Campaign(**values)
    db.session.add(campaign)
    db.session.flush()
    return campaign.id
