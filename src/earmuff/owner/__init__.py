"""The owner's side: consent and its disclosure, transparency, deletion, retention.

Everything a household decides about its recordings, and everything it may ask to see,
lives here as plain functions over a store; the portal (``web/portal``) and the
``earmuff`` command are thin shells around them.
"""
