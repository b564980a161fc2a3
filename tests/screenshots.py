"""Takes the README's pictures of the pages (docs/screenshots/*.png) in headless Chromium:
`.venv/bin/python -m tests.screenshots`. It serves the app on a temporary SQLite file with a demo team
that revealed people over the last month, pastes the admin's key into the usage page, and photographs
`/`, `/app/usage` (desktop and phone width) and `/docs`."""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from backend.app import create_app
from backend.config import ROOT, Settings
from backend.persistence import migrations
from backend.persistence.db import make_engine
from backend.persistence.tables import LedgerEntry
from tests.browser import served, start_chromium, wait_until

OUT = ROOT / "docs" / "screenshots"
ADMIN = "screenshots-admin-token"


def demo_team(app) -> str:
    """An account whose admin and teammate revealed 16 people; answers the admin's key."""
    client = app.test_client()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    people = [
        {
            "linkedin_url": f"https://www.linkedin.com/in/demo-{i}",
            "full_name": f"Demo {i}",
            "title": "Head of Sales",
            "company": "Acme",
            "email": f"demo{i}@acme.example",
            "phone": f"+1555{i:07d}" if i % 3 == 0 else None,
        }
        for i in range(16)
    ]
    client.post("/v1/admin/directory", json={"people": people}, headers=admin)
    account = client.post(
        "/v1/admin/accounts",
        json={"name": "Acme", "admin_email": "a@acme.example", "grants": {"email": 200, "phone": 20}},
        headers=admin,
    ).json
    mate = client.post(
        f"/v1/admin/accounts/{account['id']}/users",
        json={"email": "b@acme.example", "role": "member"},
        headers=admin,
    ).json
    tokens = [account["users"][0]["api_token"], mate["api_token"]]
    for i, person in enumerate(people):
        client.post(
            "/v1/extension/reveal",
            json={"linkedin_url": person["linkedin_url"], "fields": ["email", "phone"]},
            headers={"Authorization": f"Bearer {tokens[i % 3 == 1]}"},
        )
    return tokens[0]


def spread_over_the_month(url: str) -> None:
    """The demo's charges were all made a second ago; dated over the last 28 days instead, the chart
    shows a month (a picture's data only: the temporary database is thrown away)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        ids = conn.execute(select(LedgerEntry.id).order_by(LedgerEntry.id)).scalars().all()
        now = datetime.now(UTC)
        for n, entry in enumerate(ids):
            when = now - timedelta(days=27 - (n * 28) // len(ids), hours=n % 5)
            conn.execute(update(LedgerEntry).where(LedgerEntry.id == entry).values(created_at=when))
    engine.dispose()


def whole_page(driver, path: Path) -> None:
    """The page from top to bottom, not only the window (DevTools' captureBeyondViewport)."""
    width, height = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 0.75}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))


def photograph(app, token: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    driver = start_chromium()
    try:
        with served(app) as base:
            driver.set_window_size(1200, 900)
            driver.get(base + "/")
            driver.save_screenshot(str(out / "start.png"))
            driver.get(base + "/app/usage")
            driver.find_element("id", "api-key").send_keys(token)
            driver.find_element("id", "key-form").submit()
            wait_until(
                lambda: driver.find_elements("css selector", "#ledger tbody tr[data-entry-id]"), "the ledger"
            )
            whole_page(driver, out / "usage.png")
            driver.set_window_size(390, 844)
            driver.execute_script("document.getElementById('balances-title').scrollIntoView()")
            driver.save_screenshot(str(out / "usage-phone.png"))
            driver.set_window_size(1200, 900)
            driver.get(base + "/docs")
            wait_until(lambda: driver.find_elements("css selector", ".opblock"), "the operations")
            driver.save_screenshot(str(out / "docs.png"))
    finally:
        driver.quit()


def main(out: Path = OUT) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/screenshots.db"
        engine = make_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        app = create_app(Settings(database_url=url, admin_token=ADMIN))
        token = demo_team(app)
        spread_over_the_month(url)
        photograph(app, token, out)
        app.extensions["store"].engine.dispose()


if __name__ == "__main__":
    main()
