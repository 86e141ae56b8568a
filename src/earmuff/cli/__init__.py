"""The ``earmuff`` command."""
