"""The chat history: SQLite store, its schema and migrations, attachments, export."""
