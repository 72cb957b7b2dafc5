"""The context routes receive (``calcifer.instance.AppContext``), importable from here too."""

from __future__ import annotations

from calcifer.instance import AppContext

__all__ = ["AppContext"]
