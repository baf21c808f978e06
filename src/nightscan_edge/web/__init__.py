"""Web interface: FastAPI ``create_app(settings)``, one router per resource, SQLite state, job workers."""

from nightscan_edge.web.app import create_app
from nightscan_edge.web.settings import Settings, SettingsError

__all__ = ["create_app", "Settings", "SettingsError"]
