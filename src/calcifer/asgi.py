"""ASGI entry point for uvicorn workers: `uvicorn calcifer.asgi:app`.

`calcifer serve` migrates and reconciles once before starting workers, so workers skip reconciling.
"""

from __future__ import annotations

from calcifer.app import create_app
from calcifer.config import Settings
from calcifer.logging import configure
from calcifer.wiring import prepare

_settings = Settings()
configure(fmt=_settings.log_format.value, level=_settings.log_level)
app = create_app(ctx=prepare(_settings, reconcile=False))
