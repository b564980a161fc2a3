"""The best c/a this machine allows: the same two requests as bench/charge_throughput.py's (a) and (c),
written with nothing but Flask routes and raw SQL on the driver, against our own migrated schema, under
the same gunicorn (2 workers x 8 threads unless told) and the same wrk load, in the same run as ours:
the servers are up at once on the same database and take turns run by run (a then c on one, then on
the next, each round), so a spell where the machine runs slow meets them alike.

  (a) GET /v1/me: the bearer token hashed and looked up as an API key (an indexed lookup that checks
      the key is neither revoked nor expired), the request counted against the key's rate limit (an
      in-memory counter, or with --limiter redis an INCR in Redis), a JSON answer;
  (c) POST /v1/extension/reveal of a new lead: the key and its count, the JSON body, the person and
      what the account holds of them, the directory lookup, then one write transaction (person, unlock
      insert-if-absent, conditional debit, ledger row, balances) and the JSON answer with `credits`.
The key lookup and the count are what any implementation must do now that keys can be revoked and
requests are rate limited (api.md "Additions"); the limit is set far above the load (common.RATE_LIMIT).

A third server, "the stack", serves the ceiling's SQL and answers through the per-request layers our
app is built on, wired as our app wires them (create_stack_app): flask-smorest parsing the body with
our schema and rendering the answer through our response schema, our request id, metrics and JSON log
line, our rate limiter with its RateLimit fields. It has none of our rules, units of work or other
hooks, so it bounds what any implementation on this stack can reach: stack/ceiling is what the layers
cost, ours/stack what our own code costs on top of them.

Prints the servers' a and c, their p99, and ours/ceiling, stack/ceiling and ours/stack for each (the
median of the rounds' ratios): the target is ours/ceiling c >= 0.8 on both engines
(../shared/guides/performance.md). Also each server's CPU per charging reveal (common.CpuMeter), on
PostgreSQL with the database's share apart: where the gap between two lies, in their processes or in
the database's work.

No validation schemas, no ORM, no unit of work, no retries, no CORS, no idempotency: what is left is
the storage, the HTTP server and the request's own round trips. Where this ceiling's c/a lies tells how
much of the gap to a target is our layers and how much the machine. SQLite writers queue on the app's
own writer lock (a thread lock and a file lock), as the app does.

    .venv/bin/python bench/reveal_ceiling.py [--seconds 6] [--rounds 3] [--engines sqlite,postgresql]
        [--workers 2 --threads 8]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from flask import Flask, abort, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RATE_LIMIT, env  # noqa: E402

URL_ENV = "CEILING_DATABASE_URL"
LIMITER_ENV = "CEILING_LIMITER"  # "memory" or a Redis URL
KEYS = (  # the ceiling's own API keys: one per user, none revoked
    "CREATE TABLE ceiling_api_keys (token_hash VARCHAR(64) PRIMARY KEY, user_id VARCHAR(36) NOT NULL,"
    " account_id VARCHAR(36) NOT NULL, expires_at VARCHAR(32), revoked_at VARCHAR(32))",
    "INSERT INTO ceiling_api_keys (token_hash, user_id, account_id)"
    " SELECT hash, user_id, account_id FROM api_keys",
)
MILLI = 1000
SQL = {  # {p}: the driver's parameter mark
    "TOKEN": (
        "SELECT user_id, account_id FROM ceiling_api_keys WHERE token_hash = {p} AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > {p})"
    ),
    "PERSON": (
        "SELECT people.id, people.full_name, unlocks.kind, unlocks.value FROM people LEFT JOIN unlocks"
        " ON unlocks.person_id = people.id AND unlocks.account_id = {p} WHERE people.linkedin_url = {p}"
    ),
    "LOOKUP": "SELECT full_name, email FROM directory_entries WHERE linkedin_url = {p}",
    "NEW_PERSON": (
        "INSERT INTO people (id, linkedin_url, full_name, created_at) VALUES ({p}, {p}, {p}, {p})"
        " ON CONFLICT DO NOTHING"
    ),
    "UNLOCK": (
        "INSERT INTO unlocks (account_id, person_id, kind, credit_type, value, user_id, created_at)"
        " VALUES ({p}, {p}, 'email', 'email', {p}, {p}, {p}) ON CONFLICT DO NOTHING RETURNING kind"
    ),
    "LOCK": "SELECT amount FROM balances WHERE account_id = {p} AND credit_type = 'email' FOR UPDATE",
    "DEBIT": (
        "UPDATE balances SET amount = amount - {p} WHERE account_id = {p} AND credit_type = 'email'"
        " AND amount >= {p} RETURNING amount"
    ),
    "LEDGER": (
        "INSERT INTO ledger_entries (account_id, credit_type, amount, balance_after, action, person_id,"
        " user_id, created_at) VALUES ({p}, 'email', {p}, {p}, 'reveal', {p}, {p}, {p})"
    ),
    "BALANCES": "SELECT credit_type, amount FROM balances WHERE account_id = {p}",
    "CHARGES": "SELECT count(*) FROM ledger_entries WHERE action = 'reveal' AND amount < {p}",
}


class Storage:
    """One driver connection per thread; SQLite writers queue on the app's writer lock."""

    def __init__(self, url: str):
        self.url, self.local = url, threading.local()
        self.sqlite = url.startswith("sqlite")
        mark = "?" if self.sqlite else "%s"
        self.sql = {name: sql.format(p=mark) for name, sql in SQL.items()}
        if self.sqlite:
            from backend.persistence.unit_of_work import WriterQueue

            self.path = url.split("///", 1)[1]
            self.writer = WriterQueue(self.path)

    def conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            if self.sqlite:
                import sqlite3

                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=60000"):
                    conn.execute(f"PRAGMA {pragma}")
            else:
                import psycopg

                conn = psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True)
            self.local.conn = conn
        return conn

    def one(self, name: str, *params):
        return self.conn().execute(self.sql[name], params).fetchone()

    def run(self, name: str, *params) -> None:
        self.conn().execute(self.sql[name], params)

    def run_sql(self, sql: str) -> None:
        """One statement in its own transaction (SQLite: through the writer queue)."""
        self.write(lambda db: db.conn().execute(sql))

    def all(self, name: str, *params):
        return self.conn().execute(self.sql[name], params).fetchall()

    def write(self, fn):
        conn = self.conn()
        if self.sqlite:
            self.writer.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE" if self.sqlite else "BEGIN")
            try:
                result = fn(self)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        finally:
            if self.sqlite:
                self.writer.release()


class Counter:
    """A fixed one-second window per key: in this process's memory, or in Redis (INCR, EXPIRE)."""

    def __init__(self, where: str, limit: int):
        self.limit, self.lock, self.window, self.counts = limit, threading.Lock(), 0, {}
        self.redis = None
        if where != "memory":
            import redis

            self.redis = redis.Redis.from_url(where)

    def allow(self, key: str) -> bool:
        window = int(time.time())
        if self.redis is not None:
            name = f"bench-ceiling:{key}:{window}"
            count, _ = self.redis.pipeline().incr(name).expire(name, 2).execute()
            return count <= self.limit
        with self.lock:
            if window != self.window:
                self.window, self.counts = window, {}
            count = self.counts[key] = self.counts.get(key, 0) + 1
        return count <= self.limit


def create_app(url: str, limiter: str = "memory") -> Flask:
    app, db = Flask(__name__), Storage(url)
    app.extensions["storage"] = db  # for bench/reveal_calls.py, which watches its writer lock
    counter = Counter(limiter, int(RATE_LIMIT.split("/")[0]))

    def actor():
        token = request.headers.get("Authorization", "").partition(" ")[2]
        key_hash = hashlib.sha256(token.encode()).hexdigest()
        found = db.one("TOKEN", key_hash, datetime.now(UTC).isoformat())
        if found is None or not counter.allow(key_hash):
            abort(401 if found is None else 429)
        return found

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/v1/me")
    def me():
        user_id, account_id = actor()
        return {"user_id": user_id, "account_id": account_id}

    @app.post("/v1/extension/reveal")
    def reveal():
        user_id, account_id = actor()
        url = request.get_json()["linkedin_url"].strip().lower().rstrip("/")
        return charging_reveal(db, user_id, account_id, url)

    return app


def charging_reveal(db: Storage, user_id: str, account_id: str, url: str) -> dict:
    """The person and what the account holds of them; else the directory lookup and one write
    transaction charging one email credit when found."""
    rows = db.all("PERSON", account_id, url)
    held = {r[2]: r[3] for r in rows if r[2]}
    if "email" in held:
        return {"person": {"id": rows[0][0], "email": held["email"]}, "credits": {}}
    found = db.one("LOOKUP", url)
    person_id = rows[0][0] if rows else str(uuid.uuid4())
    now = datetime.now(UTC)
    stamp = str(now) if db.sqlite else now

    def charge(db: Storage):
        if not rows:
            db.run("NEW_PERSON", person_id, url, found and found[0], stamp)
        if not db.sqlite:
            db.one("LOCK", account_id)
        if found and db.one("UNLOCK", account_id, person_id, found[1], user_id, stamp):
            after = db.one("DEBIT", MILLI, account_id, MILLI)[0]  # the bench's accounts never run dry
            db.run("LEDGER", account_id, -MILLI, after, person_id, user_id, stamp)
        return dict(db.all("BALANCES", account_id))

    balance = db.write(charge)
    charged = MILLI if found else 0
    return {
        "person": {"id": person_id, "linkedin_url": url, "email": found and found[1]},
        "credits": {
            "charged": {"email": charged / MILLI, "phone": 0, "tracking": 0},
            "balance": {t: a / MILLI for t, a in balance.items()},
            "reasons": {"email": {"code": "charged" if found else "not_found"}},
        },
    }


def create_stack_app(url: str) -> Flask:
    """The ceiling's SQL and answers with the per-request layers of the stack our app is built on, as our
    app wires them: flask-smorest parsing and validating the body with our schema and rendering the
    answer through our response schema; our request id, metrics and JSON log line (backend/api/
    observe.py, python-json-logger, prometheus-client); our rate limiter (`limits`' moving window, the
    RateLimit fields). Still the bare driver under it and none of our rules: an upper bound for any
    implementation on this stack, so stack/ceiling tells how much of the target these layers leave."""
    from flask import g
    from flask_smorest import Api, Blueprint

    from backend.api import auth, observe, rate_limits
    from backend.api.me import MeSchema
    from backend.app import LeadledgerFlask
    from backend.config import Settings
    from backend.observe import logs
    from backend.services.charge_guard import Actor
    from schemas.extension import RevealRequest, RevealResponse

    app, db = LeadledgerFlask(__name__), Storage(url)
    app.extensions["storage"] = db
    app.config.update(API_TITLE="stack", API_VERSION="v1", OPENAPI_VERSION="3.0.3")
    logs.configure()
    observe.install(app)

    @app.before_request
    def authenticate():
        if request.path.startswith("/v1/"):
            token = request.headers.get("Authorization", "").partition(" ")[2]
            found = db.one("TOKEN", hashlib.sha256(token.encode()).hexdigest(), datetime.now(UTC).isoformat())
            if found is None:
                abort(401)
            g.actor = Actor(account_id=found[1], user_id=found[0])
            g.credential = auth.credential_digest(token)

    rate_limits.install(app, Settings.from_env(env(url)))
    blp = Blueprint("stack", __name__)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @blp.route("/v1/me", methods=["GET"])
    @blp.response(200, MeSchema)
    def me():
        return {"account_id": g.actor.account_id, "user_id": g.actor.user_id}

    @blp.route("/v1/extension/reveal", methods=["POST"])
    @blp.arguments(RevealRequest())
    @blp.response(200, RevealResponse)
    def reveal(body):
        return charging_reveal(db, g.actor.user_id, g.actor.account_id, body["linkedin_url"])

    Api(app).register_blueprint(blp)
    return app


def served_app(stack: bool = False) -> Flask:
    """What gunicorn serves: `bench.reveal_ceiling:served_app()`, or `served_app(stack=True)`."""
    url = os.environ[URL_ENV]
    return create_stack_app(url) if stack else create_app(url, os.environ.get(LIMITER_ENV, "memory"))


def main() -> None:
    from charge_throughput import FIXED_LUA, charging, past, seed, within_directory, wrk
    from common import CpuMeter, database, served

    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limiter", default="memory", help="memory, or a Redis URL for the ceiling's counter")
    args = ap.parse_args()
    config = {"workers": args.workers, "threads": args.threads}
    print(
        f"gunicorn {args.workers} workers x {args.threads} threads, wrk -t2 -c16, {args.rounds} rounds of"
        f" {args.seconds} s runs, ours, the ceiling and the stack taking turns run by run; medians"
    )
    print(f"the ceiling counts the rate limit in {args.limiter}; RATE_LIMIT {RATE_LIMIT}")
    print(f"{'engine':<11} {'':<8} {'a /v1/me':>9} {'c charge':>9}   c/a  c p99")
    me = FIXED_LUA % ("GET", "nil")
    for engine in args.engines.split(","):
        with database(engine) as url, served(url, **config) as ours:  # our app seeds the directory
            tokens = seed(ours, accounts=1 + 3 * 16)
            keys = Storage(url)
            for sql in KEYS:
                keys.run_sql(sql)
            os.environ[URL_ENV], os.environ[LIMITER_ENV] = url, args.limiter  # for the ceiling's gunicorn
            target = "bench.reveal_ceiling:served_app"
            with (
                served(url, port=8912, target=f"{target}()", **config) as ceiling,
                served(url, port=8913, target=f"{target}(stack=True)", **config) as stack,
            ):
                servers = {
                    "ours": (ours, tokens[1:17]),
                    "ceiling": (ceiling, tokens[17:33]),
                    "stack": (stack, tokens[33:49]),
                }
                runs = {name: {"a": [], "c": [], "p99": [], "app": [], "db": []} for name in servers}
                walked = {name: 0 for name in servers}  # each walks new leads for its own accounts
                for base, _ in servers.values():
                    wrk(base, "/v1/me", tokens[0], me, 2)  # warm-up
                for _ in range(args.rounds):  # a spell of a slow machine meets the servers alike
                    for name, (base, charging_tokens) in servers.items():
                        runs[name]["a"].append(wrk(base, "/v1/me", tokens[0], me, args.seconds).rate)
                        lua = charging(charging_tokens, walked[name])
                        meter = CpuMeter(int(base.rsplit(":", 1)[1]))
                        reveals = partial(wrk, base, "/v1/extension/reveal", "", lua, args.seconds)
                        c, (app, db) = meter.around(reveals, args.seconds)
                        runs[name]["c"].append(c.rate)
                        runs[name]["app"].append(app)
                        runs[name]["db"].append(db)
                        runs[name]["p99"].append(c.p99)
                        walked[name] = past(walked[name], c, args.seconds)
            within_directory(max(walked.values()))
            charges = Storage(url).one("CHARGES", 0)[0]
        m = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in runs.items()}
        for name in servers:
            print(
                f"{engine:<11} {name:<8} {m[name]['a']:>7.0f}/s {m[name]['c']:>7.0f}/s"
                f"  {m[name]['c'] / m[name]['a']:>4.2f} {m[name]['p99']:>5.1f} ms"
            )
        cpu = {name: m[name]["app"] + (m[name]["db"] if engine == "postgresql" else 0) for name in servers}
        for name in servers:
            split = (
                f" ({m[name]['app']:.0f} app + {m[name]['db']:.0f} PostgreSQL)"
                if engine == "postgresql"
                else ""
            )
            print(f"{engine:<11} {name:<8} CPU per charging reveal {cpu[name]:.0f} µs{split}")

        # each round's ratio compares runs next to each other in time; their median is not moved by
        # one slow spell of the machine, which the ratio of the medians is when it slows one side's run
        for top, bottom in (("ours", "ceiling"), ("stack", "ceiling"), ("ours", "stack")):
            a_rounds, c_rounds = (
                [t / b for t, b in zip(runs[top][k], runs[bottom][k], strict=True)] for k in "ac"
            )
            a_ratio = statistics.median(a_rounds)
            print(
                f"{engine:<11} {top}/{bottom}, the median of the rounds' ratios: a {a_ratio:.2f},"
                f" c {statistics.median(c_rounds):.2f} (each round's c: "
                + ", ".join(f"{r:.2f}" for r in c_rounds)
                + f"); CPU per charging reveal, {bottom}/{top}: {cpu[bottom] / cpu[top]:.2f}"
            )
        print(f"{engine:<11} target ours/ceiling c >= 0.8; {charges} charges in the ledger")


if __name__ == "__main__":
    main()
