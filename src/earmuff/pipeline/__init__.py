"""The stages a recording passes through, from ingestion to a review item."""
