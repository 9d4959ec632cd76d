"""Postbacks: the outbox and its delivery log (operators: all; merchants: their own)."""
from .base import ScopedModelView


class PostbackView(ScopedModelView):
    role_permissions = {"operator": {"details"}}
    column_default_sort = ("id", True)
    column_list = ("event_id", "merchant", "event_type", "status", "attempts", "last_http_status",
                   "next_attempt_at", "created_at", "sent_at")
