"""Tables of this slice (being written)."""

from __future__ import annotations
