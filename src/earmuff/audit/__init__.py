"""The tamper-evident audit log."""

from earmuff.audit.log import AuditChainBroken, record, verify

__all__ = ["AuditChainBroken", "record", "verify"]
