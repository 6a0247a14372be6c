"""Grants, approval decisions, ledger entries and audit events can be added,
never changed or removed: on PostgreSQL a trigger refuses UPDATE and DELETE on
those tables whoever asks (the ORM, raw SQL, the admin). TRUNCATE, which only
the test runner's flush uses, is left alone.

SQLite (the embedded demo) gets no trigger: its test flush deletes rows one
by one, and the demo holds no money."""

from django.db import migrations

TABLES = (
    "authority_grant",
    "authority_approvaldecision",
    "authority_ledgerentry",
    "authority_auditevent",
)

FUNCTION = """
CREATE OR REPLACE FUNCTION authority_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'authority: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # "%" in it is not a placeholder
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION authority_append_only()"
        )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS authority_append_only()")


class Migration(migrations.Migration):
    dependencies = [("authority", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
