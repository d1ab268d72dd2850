"""Database-level guards for the ledger on PostgreSQL.

* Journal entries and lines reject UPDATE and DELETE: the ledger is append-only even for someone
  with a SQL prompt (TRUNCATE stays possible for test flushes and a deliberate reset).
* A deferred constraint trigger checks, at COMMIT, that the lines of every entry touched in the
  transaction sum to zero. It must be deferred: an entry's lines are separate rows, inserted one
  statement after another, so only the finished transaction can be judged.

SQLite has neither deferred triggers nor a way to let test flushes through an UPDATE/DELETE guard,
so there the model layer and `siyu ledger_check` hold these rules (see docs/ledger.md).
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % on % is not allowed; the ledger is append-only (post a reversal)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_journalentry_append_only
    BEFORE UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_journalline_append_only
    BEFORE UPDATE OR DELETE ON ledger_journalline
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

CREATE OR REPLACE FUNCTION ledger_entry_balances() RETURNS trigger AS $$
DECLARE
    total bigint;
    n integer;
BEGIN
    SELECT COALESCE(SUM(amount_fen), 0), COUNT(*) INTO total, n
        FROM ledger_journalline WHERE entry_id = NEW.entry_id;
    IF total <> 0 OR n < 2 THEN
        RAISE EXCEPTION 'ledger: entry % does not balance (% lines, sum %)', NEW.entry_id, n, total
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_journalline_balanced
    AFTER INSERT ON ledger_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_balances();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS ledger_journalline_balanced ON ledger_journalline;
DROP TRIGGER IF EXISTS ledger_journalline_append_only ON ledger_journalline;
DROP TRIGGER IF EXISTS ledger_journalentry_append_only ON ledger_journalentry;
DROP FUNCTION IF EXISTS ledger_entry_balances();
DROP FUNCTION IF EXISTS ledger_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
