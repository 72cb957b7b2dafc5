"""Closed lists of the remote slice."""

from __future__ import annotations

from enum import StrEnum


class AuthKind(StrEnum):
    NONE = "none"     # a public remote, git://, or file://
    TOKEN = "token"   # HTTPS: user (optional) and a token or password
    SSH = "ssh"       # a key pair Calcifer generates; the public half is shown to add on the forge


class PushScope(StrEnum):
    MAIN = "main"                  # main only
    MAIN_AND_WORK = "main_and_work"  # main and the branches of open work items


class FetchOutcome(StrEnum):
    UP_TO_DATE = "up_to_date"
    FAST_FORWARD = "fast_forward"
    MERGED = "merged"
    NO_MAIN = "no_main"        # the remote has no main yet (the next push creates it)
    CONFLICT = "conflict"      # both sides changed the same files: main untouched
    HOSTILE = "hostile"        # the remote's main carries content that must not land: main untouched
    INVALID = "invalid"        # the merged main would fail the merge check's validation: main untouched
    FAILED = "failed"          # the remote could not be reached or refused
