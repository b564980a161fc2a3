"""R17–R19 through the API: an upload is estimated without charging, confirmed into a job that never
charges more than the estimate, or cancelled for nothing; and hostile files get clear answers."""

import csv
import io

import pytest

from backend.domain.lead_files import Limits
from backend.services import uploads
from schemas.common import ProblemSchema
from tests.api.test_jobs_api import wait


def upload(client, text: str | bytes, encoding="utf-8", **form):
    data = text.encode(encoding) if isinstance(text, str) else text
    fields = {k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()}
    return client.c.post(
        "/v1/uploads",
        headers=client.headers,
        data={**fields, "file": (io.BytesIO(data), "leads.csv")},
        content_type="multipart/form-data",
    )


def documented(problem: dict) -> None:
    """The error body has only the members the served OpenAPI documents (ProblemSchema)."""
    assert ProblemSchema().validate(problem) == {}, problem


def leads_csv(rows):
    return "LinkedIn URL,Email,Name\n" + "\n".join(",".join(r) for r in rows) + "\n"


@pytest.fixture
def people(job_api):
    """p0..p3 with emails in the directory, p4 unknown to it."""
    return job_api.directory(4)


def test_r18_upload_reports_distinct_leads_and_the_maximum_before_charging(job_api, people):
    user = job_api.account()
    text = leads_csv(
        [
            [people[0], "", "A"],
            [people[0].upper() + "/", "", "A again"],
            [people[1], "", "B"],
            ["not a url", "", "C"],
            ["", "solo@x.example", "D"],
        ]
    )
    r = upload(user, text, enrich=True, validate=True)
    assert r.status_code == 201, r.json
    assert r.json["status"] == "awaiting_confirmation" and r.json["rows"] == 3 and r.json["duplicates"] == 1
    assert r.json["estimate"]["max"]["email"] == 3
    assert r.json["bad_rows"] == {
        "count": 1,
        "rows": [{"line": 5, "reason": r.json["bad_rows"]["rows"][0]["reason"]}],
    }
    assert user.balance()["email"] == 100
    only_enrich = upload(user, text, enrich=True)
    assert only_enrich.json["estimate"]["max"]["email"] == 1.5
    neither = upload(user, text)
    assert neither.json["estimate"]["max"]["email"] == 0


def test_r17_r18_confirmed_charge_never_exceeds_the_estimate(job_api, people):
    user = job_api.account()
    user.post("/v1/extension/reveal", {"linkedin_url": people[0]})  # already unlocked: costs nothing more
    text = leads_csv(
        [
            [people[0], "", "A"],
            [people[1], "", "B"],
            [people[2], "", "C"],
            ["https://www.linkedin.com/in/unknown-here", "", "U"],
            ["", "given@x.example", "E"],
        ]
    )
    made = upload(user, text, enrich=True, validate=True).json
    assert made["estimate"]["max"]["email"] == 5
    job = wait(user, user.post(f"/v1/uploads/{made['id']}/confirm").json["job"]["id"])
    assert job["status"] == "succeeded", job
    # p1, p2: enrich 0.5 + validate 0.5; unknown: nothing found, nothing to validate; the emailed row:
    # nothing to enrich by email in the directory, its own email validated 0.5; p0: covered (R15)
    assert job["credits"]["charged"]["email"] == 2.5
    assert user.balance()["email"] == 100 - 1 - 2.5
    rows = {
        r["full_name"]: r
        for r in csv.DictReader(
            io.StringIO(user.get(f"/v1/jobs/{job['id']}/download").get_data(as_text=True))
        )
    }
    assert rows["B"]["enrich"] == "charged" and rows["B"]["validation"] == "valid"
    assert rows["A"]["enrich"] == "already_unlocked" and rows["A"]["validation"] == "covered"
    assert rows["U"]["enrich"] == "not_found" and rows["U"]["validation"] == "no_email"
    assert rows["E"]["validation"] == "valid"


def test_r17_validating_an_email_the_account_already_unlocked_costs_nothing(job_api, people):
    user = job_api.account()
    user.post("/v1/extension/reveal", {"linkedin_url": people[0]})  # holds p0@co.example, validated
    made = upload(user, leads_csv([["", "P0@co.example", "A"], ["", "new@x.example", "N"]]), validate=True)
    job = wait(user, user.post(f"/v1/uploads/{made.json['id']}/confirm").json["job"]["id"])
    assert job["status"] == "succeeded", job
    assert job["credits"]["charged"]["email"] == 0.5  # only new@x.example is validated
    assert user.balance()["email"] == 100 - 1 - 0.5
    rows = {r["full_name"]: r for r in job["result"]["results"]}
    assert rows["A"]["validation"] == "covered" and rows["N"]["validation"] == "valid"


def test_r19_an_enriched_upload_lead_is_sequenced_for_free(job_api, people):
    user = job_api.account()
    made = upload(user, leads_csv([[people[3], "", "Z"]]), enrich=True).json
    wait(user, user.post(f"/v1/uploads/{made['id']}/confirm").json["job"]["id"])
    seq = user.post("/v1/sequences", {"name": "S"}).json["id"]
    r = user.post(f"/v1/extension/sequences/{seq}/enrollments", {"linkedin_url": people[3]})
    assert r.status_code == 201 and r.json["credits"]["charged"]["email"] == 0
    assert r.json["credits"]["reasons"]["email"]["code"] == "already_unlocked"
    assert user.balance()["email"] == 99.5


def test_r18_cancel_costs_nothing_and_confirm_after_cancel_or_twice_is_409(job_api, people):
    user = job_api.account()
    made = upload(user, leads_csv([[people[0], "", "A"]]), enrich=True).json
    assert user.post(f"/v1/uploads/{made['id']}/cancel").status_code == 200
    r = user.post(f"/v1/uploads/{made['id']}/confirm")
    assert r.status_code == 409 and r.json["code"] == "conflict" and "cancelled" in r.json["detail"]
    documented(r.json)
    other = upload(user, leads_csv([[people[1], "", "B"]]), enrich=True).json
    first = user.post(f"/v1/uploads/{other['id']}/confirm")
    assert first.status_code == 202
    assert user.post(f"/v1/uploads/{other['id']}/confirm").status_code == 409
    wait(user, first.json["job"]["id"])
    assert user.balance()["email"] == 99.5
    assert job_api.account().post(f"/v1/uploads/{other['id']}/cancel").status_code == 404


def test_r5_r18_confirming_beyond_the_balance_is_402_and_the_upload_waits_to_be_confirmed(job_api, people):
    user = job_api.account(email=1)
    made = upload(user, leads_csv([[p, "", "N"] for p in people[:3]]), enrich=True, validate=True).json
    short = user.post(f"/v1/uploads/{made['id']}/confirm")
    assert short.status_code == 402
    assert (short.json["credit_type"], short.json["required"], short.json["available"]) == ("email", 3, 1)
    documented(short.json)
    assert (
        user.balance()["email"] == 1
        and user.get("/v1/credits/ledger").json["entries"][0]["action"] == "grant"
    )
    job_api.admin.post(f"/v1/admin/accounts/{user.account_id}/grants", {"credit_type": "email", "amount": 2})
    job = wait(user, user.post(f"/v1/uploads/{made['id']}/confirm").json["job"]["id"])  # the same file, later
    assert job["status"] == "succeeded" and job["progress"] == {"done": 3, "total": 3}
    assert user.balance()["email"] == 0


def test_uploads_into_a_list_add_the_leads(job_api, people):
    user = job_api.account()
    lid = user.post("/v1/lists", {"name": "imported"}).json["id"]
    made = upload(user, leads_csv([[people[0], "", "A"], [people[1], "", "B"]]), list_id=lid).json
    job = wait(user, user.post(f"/v1/uploads/{made['id']}/confirm").json["job"]["id"])
    assert job["credits"]["charged"]["email"] == 0
    assert len(user.get(f"/v1/lists/{lid}/leads").json["leads"]) == 2
    unset = upload(user, leads_csv([[people[2], "", "C"]]), list_id="", enrich="")  # FormData's unset fields
    assert unset.status_code == 201 and unset.json["rows"] == 1


def test_encodings_and_delimiters_are_read(api):
    user = api.account()
    text = "Email;LinkedIn\njürgen@x.example;https://www.linkedin.com/in/j\n"
    for encoding in ("utf-8-sig", "utf-16", "latin-1"):
        r = upload(user, text, encoding=encoding, validate=True)
        assert r.status_code == 201 and r.json["rows"] == 1, (encoding, r.json)


@pytest.mark.parametrize(
    "data,form,field",
    [
        (b"", {}, "file"),
        (b"name,company\nA,B\n", {}, "file"),
        (b"\x00\x01PK\x03\x04binary", {}, "file"),
        (b"email\na@x.example\n", {"enrich": "maybe"}, "enrich"),
    ],
)
def test_unusable_files_and_options_are_422_and_create_nothing(api, data, form, field):
    user = api.account()
    r = upload(user, data, **form)
    assert r.status_code == 422 and field in r.json["errors"], r.json
    documented(r.json)
    assert user.balance()["email"] == 100


def test_missing_file_or_json_body_is_422(api):
    user = api.account()
    assert user.post("/v1/uploads", {"enrich": True}).status_code == 422
    r = user.c.post(
        "/v1/uploads", headers=user.headers, data={"enrich": "true"}, content_type="multipart/form-data"
    )
    assert r.status_code == 422 and "file" in r.json["errors"]


def test_files_over_the_limits_are_413_naming_them(api, monkeypatch):
    user = api.account()
    monkeypatch.setattr(uploads, "LIMITS", Limits(max_bytes=2000, max_rows=3, max_line_bytes=500))
    r = upload(user, leads_csv([[f"https://www.linkedin.com/in/x{i}", "", "N"] for i in range(5)]))
    assert r.status_code == 413 and r.json["max_rows"] == 3
    documented(r.json)
    r = upload(user, "email\n" + "a" * 600 + "@x.example\n")
    assert r.status_code == 422 and "line" in r.json["detail"].lower()


def test_r20_tracking_upload_tracks_everyone_in_the_file(api):
    urls = api.directory(3)
    user = api.account(tracking=5)
    text = "linkedin_url\n" + "\n".join(urls) + "\nnot-a-url\n"
    r = user.c.post(
        "/v1/tracking/uploads",
        headers=user.headers,
        data={"file": (io.BytesIO(text.encode()), "t.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200, r.json
    assert r.json["tracked"] == 3 and r.json["bad_rows"]["count"] == 1
    assert user.balance()["tracking"] == 2
    r = user.c.post(
        "/v1/tracking/uploads",
        headers=user.headers,
        data={"file": (io.BytesIO(b"linkedin_url\nnot-a-url\n"), "t.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and r.json["bad_rows"][0]["line"] == 2
    documented(r.json)


def test_r6_a_retried_upload_with_its_idempotency_key_replays_the_first_answer(api):
    user = api.account()
    key = {"Idempotency-Key": "upload-1"}
    user.headers.update(key)
    first = upload(user, "email\na@x.example\n", enrich=True)
    again = upload(user, "email\na@x.example\n", enrich=True)  # a new multipart boundary, same content
    other = upload(user, "email\nb@x.example\n", enrich=True)
    assert first.status_code == 201 and again.json["id"] == first.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422 and other.json["code"] == "idempotency_conflict"


def test_every_bad_row_is_counted_and_the_first_are_shown_with_their_lines(api):
    user = api.account()
    text = "Email,Name\n" + "".join(f",nobody {i}\n" for i in range(1500)) + "a@x.example,A\n"
    r = upload(user, text)
    assert r.status_code == 201 and r.json["rows"] == 1
    assert r.json["bad_rows"]["count"] == 1500 and len(r.json["bad_rows"]["rows"]) == 100
    assert r.json["bad_rows"]["rows"][0] == {"line": 2, "reason": "no LinkedIn URL or email"}
