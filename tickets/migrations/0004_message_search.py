"""Full-text search over messages and subjects on PostgreSQL: GIN indexes on the
exact expressions tickets.selectors searches with ('simple' config: no stemming,
so Korean and English words alike match as written). SQLite searches with LIKE."""

from django.db import migrations

INDEXES = {
    "message_text_search": (
        "tickets_message",
        "to_tsvector('simple'::regconfig, COALESCE(text, ''::text))",
    ),
    "ticket_subject_search": (
        "tickets_ticket",
        "to_tsvector('simple'::regconfig, COALESCE(subject, ''::text))",
    ),
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, expression) in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0003_multichannel")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
