"""Privacy and utility measured on real speech: wake-word verification, ASR, PII redaction.

Each task reads a JSON Lines manifest of labelled clips, runs the same models the
pipeline runs, and returns one JSON-ready dict of figures, so that every claim earmuff
makes about what it catches can be re-measured by anyone with the corpus.
"""
