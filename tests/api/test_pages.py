"""api.md "Pages for people" over HTTP (the browser's view is tests/e2e/test_pages.py): every page
carries the Content-Security-Policy and nosniff, and names no other host."""

import re

import pytest

PAGES = ["/", "/app/usage", "/docs"]


def policy(answer) -> dict:
    return dict(d.strip().split(" ", 1) for d in answer.headers["Content-Security-Policy"].split(";"))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_styles_and_connects_to_this_server_only(api, path):
    r = api.raw.get(path)
    assert r.status_code == 200 and r.mimetype == "text/html"
    rules = policy(r)
    assert (
        rules["script-src"] == rules["style-src"] == rules["connect-src"] == rules["default-src"] == "'self'"
    )
    assert rules["object-src"] == rules["base-uri"] == "'none'"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    html = r.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from another host


def test_the_start_page_links_to_the_usage_page_and_the_docs(api):
    html = api.raw.get("/").get_data(as_text=True)
    assert 'href="/app/usage"' in html and 'href="/docs"' in html


def test_docs_loads_swagger_ui_from_this_server(api):
    html = api.raw.get("/docs").get_data(as_text=True)
    files = re.findall(r"""(?:src|href)="(/docs/assets/[^"]+)\"""", html)
    assert any(f.endswith("swagger-ui-bundle.js") for f in files)
    for path in files:
        r = api.raw.get(path)
        assert r.status_code == 200 and r.headers["X-Content-Type-Options"] == "nosniff", path
    assert api.raw.get("/docs/assets/swagger-ui-bundle.js").mimetype == "text/javascript"


def test_the_api_answers_are_not_sniffed_either(api):
    assert api.raw.get("/v1/credits").headers["X-Content-Type-Options"] == "nosniff"
