"""The two-level cap in the database: a distributor's recruiter must itself be top-level, and a
distributor with recruits cannot be given a recruiter. Together with the CHECKs on `depth`
(1 or 2, and 2 exactly when there is a parent) no chain can ever be three deep, whatever code or
SQL writes the table.

PostgreSQL locks the parent row (FOR SHARE) while checking it, so a concurrent change of the
parent's depth and the insert of a recruit cannot both pass. SQLite serialises writers anyway.
Django rebuilds SQLite tables on some schema changes, which drops triggers; the test
`test_database_refuses_a_third_level` runs on both databases and would catch that.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION distribution_depth_guard() RETURNS trigger AS $$
DECLARE
    parent_depth smallint;
BEGIN
    IF NEW.parent_id IS NOT NULL THEN
        SELECT depth INTO parent_depth FROM distribution_distributor
            WHERE id = NEW.parent_id FOR SHARE;
        IF parent_depth IS DISTINCT FROM 1 THEN
            RAISE EXCEPTION 'distribution: at most two levels (recruiter % is not top-level)',
                NEW.parent_id USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.depth <> 1 AND EXISTS (
        SELECT 1 FROM distribution_distributor WHERE parent_id = NEW.id
    ) THEN
        RAISE EXCEPTION 'distribution: at most two levels (distributor % has recruits)', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER distribution_distributor_depth_guard
    BEFORE INSERT OR UPDATE OF parent_id, depth ON distribution_distributor
    FOR EACH ROW EXECUTE FUNCTION distribution_depth_guard();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS distribution_distributor_depth_guard ON distribution_distributor;
DROP FUNCTION IF EXISTS distribution_depth_guard();
"""

SQLITE_FORWARD = [
    """
    CREATE TRIGGER distribution_distributor_depth_guard_insert
    BEFORE INSERT ON distribution_distributor
    WHEN NEW.parent_id IS NOT NULL
    BEGIN
        SELECT RAISE(ABORT, 'distribution: at most two levels (recruiter is not top-level)')
        WHERE COALESCE(
            (SELECT depth FROM distribution_distributor WHERE id = NEW.parent_id), 0
        ) <> 1;
    END;
    """,
    """
    CREATE TRIGGER distribution_distributor_depth_guard_update
    BEFORE UPDATE OF parent_id, depth ON distribution_distributor
    BEGIN
        SELECT RAISE(ABORT, 'distribution: at most two levels (recruiter is not top-level)')
        WHERE NEW.parent_id IS NOT NULL AND COALESCE(
            (SELECT depth FROM distribution_distributor WHERE id = NEW.parent_id), 0
        ) <> 1;
        SELECT RAISE(ABORT, 'distribution: at most two levels (distributor has recruits)')
        WHERE NEW.depth <> 1 AND EXISTS (
            SELECT 1 FROM distribution_distributor WHERE parent_id = NEW.id
        );
    END;
    """,
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS distribution_distributor_depth_guard_insert",
    "DROP TRIGGER IF EXISTS distribution_distributor_depth_guard_update",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement, None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement, None)


class Migration(migrations.Migration):
    dependencies = [("distribution", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
