"""The demo data `make run` seeds: a directory of realistic people and one demo account.

Deterministic (a fixed seed), so the printed curl works on every fresh clone; re-seeding adds
nothing twice (the directory is upserted, the demo account is made once and its token kept)."""

from __future__ import annotations

import random

from backend.config import ROOT
from backend.domain.credits import MILLI, CreditType
from backend.services import accounts, api_keys, directory

FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Daniel",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kavya",
    "Liam",
    "Maya",
    "Noah",
    "Olivia",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Almeida",
    "Brooks",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jansen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Novak",
    "Walsh",
    "Young",
]
COMPANIES = [
    "Acme Analytics",
    "Brightwave",
    "Cobalt Systems",
    "Driftwood Labs",
    "Evergreen Health",
    "Fjord Logistics",
    "Granite Capital",
    "Helix Bio",
    "Ionic Energy",
    "Juniper Retail",
]
TITLES = [
    "Head of Sales",
    "VP Marketing",
    "Account Executive",
    "SDR Team Lead",
    "CTO",
    "Founder & CEO",
    "Growth Manager",
    "RevOps Lead",
    "Procurement Director",
    "Customer Success Manager",
]
TOKEN_FILE = ROOT / "var" / "demo-token"


def people(n: int) -> list[dict]:
    rng = random.Random(42)
    out = []
    for i in range(n):
        first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)
        domain = company.split()[0].lower() + ".example"
        row = {
            "linkedin_url": f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}-{i:04d}",
            "full_name": f"{first} {last}",
            "title": rng.choice(TITLES),
            "company": company,
        }
        if rng.random() < 0.85:
            row["email"] = f"{first.lower()}.{last.lower()}{i}@{domain}"
        if rng.random() < 0.5:
            row["phone"] = f"+1415{rng.randrange(10**6, 10**7)}"
        out.append(row)
    return out


def seed(store, n: int, token_file=TOKEN_FILE) -> tuple[str, str]:
    """Answers (demo API token, a profile URL that has an email).

    The kept token is reused only when it opens an account in this database: after a reset, or with
    another DATABASE_URL, the token file names nothing here, and printing it would hand the user a
    curl that answers 401."""
    rows = people(n)
    store.run(lambda uow: directory.import_people(uow, rows))
    sample = next(r["linkedin_url"] for r in rows if r.get("email") and r.get("phone"))
    kept = token_file.read_text().strip() if token_file.exists() else None
    if kept and store.run(lambda uow: api_keys.authenticate(uow, kept), write=False):
        return kept, sample
    grants = {CreditType.EMAIL: 100 * MILLI, CreditType.PHONE: 20 * MILLI, CreditType.TRACKING: 10 * MILLI}
    account = store.run(
        lambda uow: accounts.create_account(uow, "Demo team", "demo@leadledger.example", grants)
    )
    token = account["users"][0]["api_token"]
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token + "\n")
    return token, sample
