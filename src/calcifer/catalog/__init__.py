"""The service catalog: services and endpoints as YAML files in the managed repository.

``schemas`` validates a file, ``yamlio`` edits one without losing a person's comments, ``index``
mirrors main's files into the ``catalog_*`` tables (and reports bad files), ``graph`` answers
"what runs where, and what breaks if this goes down" from that index.
"""
