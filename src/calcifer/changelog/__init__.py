"""CHANGES.md: write entries, parse hand-edited files, merge two branches' changelogs by entries."""
