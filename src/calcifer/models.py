"""Imports every slice's models so `metadata` knows all tables (used by Alembic)."""

from __future__ import annotations

import calcifer.backup.models  # noqa: F401 - backup_runs
import calcifer.catalog.models  # noqa: F401 - registers the catalog_* tables
import calcifer.discussion.models  # noqa: F401 - discussion_comments, discussion_comment_edits, discussion_watches
import calcifer.docs.models  # noqa: F401
import calcifer.inbox.models  # noqa: F401 - inbox_* tables (per-person notifications)
import calcifer.monitoring.models  # noqa: F401 - monitor_* tables, incidents, maintenance_windows
import calcifer.monitoring.models.workers  # noqa: F401 - monitor_workers, monitor_buckets (worker leases)
import calcifer.notify.models  # noqa: F401 - notify_* tables
import calcifer.outbox.models  # noqa: F401 - domain_events (the outbox)
import calcifer.plugins.models  # noqa: F401 - plugin_states
import calcifer.pulls.models  # noqa: F401 - forge_config, pull_requests
import calcifer.remote.models  # noqa: F401 - remote_config, remote_outside_changes
import calcifer.search.models  # noqa: F401
import calcifer.webhooks.models  # noqa: F401 - webhooks, webhook_deliveries
from calcifer.audit.models import AuditEntry
from calcifer.auth.models import ApiToken, LoginSession, LoginThrottle, RecoveryCode, TotpFactor, User
from calcifer.db import Base
from calcifer.prefs.models import Preference
from calcifer.work.models import ChecklistItem, ChecklistTemplate, RepairReport, WorkItem

metadata = Base.metadata

__all__ = ["ApiToken", "AuditEntry", "ChecklistItem", "ChecklistTemplate",
           "LoginSession", "LoginThrottle", "Preference", "RecoveryCode", "RepairReport", "TotpFactor", "User",
           "WorkItem", "metadata"]
