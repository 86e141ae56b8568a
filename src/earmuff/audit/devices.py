"""What the audit log says about a device: its random id, its account's random id, and
its serial only as a keyed tag, so the permanent log never holds the serial itself."""

from __future__ import annotations

from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.store.crypto import KeyRing, pseudonym
from earmuff.store.models import Device


def record_device_event(
    session: Session, keyring: KeyRing, actor: str, action: str, device: Device
) -> None:
    record(
        session,
        actor,
        action,
        f"device:{device.id}",
        {
            "account": f"account:{device.account_id}",
            "serial_tag": pseudonym(keyring, "serial", device.serial),
        },
    )
