"""charge_plain(): a plain charge as one statement on PostgreSQL

Revision ID: c4a7e0000001
Revises: a1e7a5000001

The charge guard's plain charge (README "The charge guard"), steps 1-4 plus R24's count, as one
database call, so one account's balance rows stay locked for database time only (a hot account's
charges queue behind that lock: ../shared/guides/performance.md). The guard decides what is wanted,
at what price, which types R24 limits and in which order types are debited; this function only
executes, and answers what happened as jsonb:
  {"created": [[person_id, kind], ...], "balance": {credit_type: amount}, "limits": [[credit_type,
   cap, used, period], ...]}
or, refused, {"refused": "insufficient_credits", "credit_type", "required", "available"} or
{"refused": "user_limit_reached", "credit_type", "limit", "used", "required"}; a refusal leaves the
transaction to be rolled back by the caller (the unlocks it inserted go with it, as before).
SQLite has no such function: the guard spells the same steps as statements there.
"""

from alembic import op

revision = "c4a7e0000001"
down_revision = "a1e7a5000001"
branch_labels = None
depends_on = None

CHARGE_PLAIN = """
CREATE OR REPLACE FUNCTION charge_plain(
    p_account text, p_user text, p_action text, p_now timestamptz, p_period text,
    p_limited text[], p_type_order text[],
    p_people text[], p_kinds text[], p_types text[], p_amounts bigint[], p_values text[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    made_people text[];
    made_kinds text[];
    debit record;
    after bigint;
    cap_used record;
BEGIN
    -- 1. all of the account's balance rows, in a fixed order (charge_guard.lock_balances)
    PERFORM 1 FROM balances WHERE account_id = p_account ORDER BY credit_type FOR UPDATE;

    -- 2. the unlocks not held yet, in key order; only the rows this insert creates are charged
    WITH made AS (
        INSERT INTO unlocks (account_id, person_id, kind, credit_type, value, user_id, created_at)
        SELECT p_account, w.person_id, w.kind, w.credit_type, w.value, p_user, p_now
        FROM unnest(p_people, p_kinds, p_types, p_values) AS w(person_id, kind, credit_type, value)
        ORDER BY w.person_id COLLATE "C", w.kind COLLATE "C"
        ON CONFLICT DO NOTHING
        RETURNING person_id, kind
    )
    SELECT coalesce(array_agg(person_id), '{}'), coalesce(array_agg(kind), '{}')
    INTO made_people, made_kinds FROM made;

    -- 3. per credit type, in the guard's order: the conditional debit, then R24's count
    FOR debit IN
        SELECT w.credit_type, sum(w.amount) AS total
        FROM unnest(p_people, p_kinds, p_types, p_amounts) AS w(person_id, kind, credit_type, amount)
        JOIN unnest(made_people, made_kinds) AS m(person_id, kind) USING (person_id, kind)
        WHERE w.amount > 0
        GROUP BY w.credit_type
        ORDER BY array_position(p_type_order, w.credit_type)
    LOOP
        UPDATE balances SET amount = amount - debit.total
        WHERE account_id = p_account AND credit_type = debit.credit_type AND amount >= debit.total
        RETURNING amount INTO after;
        IF NOT FOUND THEN
            RETURN jsonb_build_object(
                'refused', 'insufficient_credits', 'credit_type', debit.credit_type,
                'required', debit.total,
                'available', (SELECT amount FROM balances
                              WHERE account_id = p_account AND credit_type = debit.credit_type));
        END IF;
        IF p_user IS NOT NULL AND debit.credit_type = ANY (p_limited) THEN  -- user_limits.count
            UPDATE user_limits
            SET used = CASE WHEN period = p_period THEN used ELSE 0 END + debit.total,
                alerted = CASE WHEN period = p_period THEN alerted ELSE 0 END,
                period = p_period
            WHERE user_id = p_user AND credit_type = debit.credit_type
              AND CASE WHEN period = p_period THEN used ELSE 0 END + debit.total <= cap;
            IF NOT FOUND THEN
                SELECT cap, CASE WHEN period = p_period THEN used ELSE 0 END AS used INTO cap_used
                FROM user_limits WHERE user_id = p_user AND credit_type = debit.credit_type;
                IF FOUND THEN  -- no row: no limit
                    RETURN jsonb_build_object(
                        'refused', 'user_limit_reached', 'credit_type', debit.credit_type,
                        'limit', cap_used.cap, 'used', cap_used.used, 'required', debit.total);
                END IF;
            END IF;
        END IF;

        -- 4. one ledger row per charged unlock, in the order wanted, with the running balance
        INSERT INTO ledger_entries
            (account_id, credit_type, amount, balance_after, action, person_id, user_id, created_at)
        SELECT p_account, w.credit_type, -w.amount,
               after + debit.total - sum(w.amount) OVER (ORDER BY w.ord), p_action, w.person_id,
               p_user, p_now
        FROM unnest(p_people, p_kinds, p_types, p_amounts) WITH ORDINALITY
             AS w(person_id, kind, credit_type, amount, ord)
        JOIN unnest(made_people, made_kinds) AS m(person_id, kind) USING (person_id, kind)
        WHERE w.credit_type = debit.credit_type AND w.amount > 0
        ORDER BY w.ord;
    END LOOP;

    RETURN jsonb_build_object(
        'created', (SELECT coalesce(jsonb_agg(jsonb_build_array(p, k)), '[]')
                    FROM unnest(made_people, made_kinds) AS m(p, k)),
        'balance', (SELECT jsonb_object_agg(credit_type, amount) FROM balances
                    WHERE account_id = p_account),
        'limits', (SELECT coalesce(jsonb_agg(jsonb_build_array(credit_type, cap, used, period)), '[]')
                   FROM user_limits WHERE user_id = p_user));
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CHARGE_PLAIN)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS charge_plain(text, text, text, timestamptz, text, text[], text[],"
            " text[], text[], text[], bigint[], text[])"
        )
