"""Upload specs: read from JSON, structured JSON or CSV into one model, validated."""
