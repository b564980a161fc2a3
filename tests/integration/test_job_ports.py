"""A job asks the contact provider and the email validator before its chunk's transaction: a slow
service never holds the database while it answers, so the extension's reveals go on meanwhile."""

import io
import threading

from adapters.validation.local import LocalEmailValidator
from backend.config import Settings
from backend.domain.credits import MILLI, CreditType
from backend.jobs.runner import run_job
from backend.services import charge_guard, extension, jobs, uploads
from backend.services.people import PersonRef
from tests.invariants import assert_ledger_invariants


class HeldUpValidator(LocalEmailValidator):
    """Answers like the local validator, but only once the test lets it."""

    def __init__(self):
        self.asked, self.go = threading.Event(), threading.Event()

    def validate_many(self, emails):
        self.asked.set()
        assert self.go.wait(30)
        return super().validate_many(emails)


def test_reveals_go_on_while_an_upload_waits_for_its_validator(store, world, db_url):
    actor = world.account(email=50)
    url = world.people(1, start=500)[0]
    rows = "".join(f"https://www.linkedin.com/in/u-{i},u{i}@example.com\n" for i in range(20))
    made = uploads.create(
        store, actor, io.BytesIO(("linkedin_url,email\n" + rows).encode()), False, True, None
    )
    job = store.run(lambda uow: uploads.confirm(uow, actor, made["id"]))
    validator = HeldUpValidator()
    slow = store.with_ports(validator=validator)
    worker = threading.Thread(target=run_job, args=(slow, Settings(database_url=db_url), job["id"]))
    worker.start()
    try:
        assert validator.asked.wait(30)
        revealed = []
        reveal = threading.Thread(
            target=lambda: revealed.append(
                extension.reveal_read_first(store, actor, PersonRef(url), ["email"])
            )
        )
        reveal.start()
        reveal.join(10)
        assert revealed, "the reveal waited for the upload's validator"
        assert revealed[0]["credits"]["reasons"]["email"]["code"] == "charged"
    finally:
        validator.go.set()
        worker.join(30)
    done = store.run(lambda uow: jobs.get(uow, actor, job["id"]))
    assert done["status"] == "succeeded" and done["credits"]["charged"]["email"] == 10  # 20 x 0.5
    assert (
        store.run(lambda uow: charge_guard.balances(uow, actor.account_id))[CreditType.EMAIL] == 39 * MILLI
    )  # 50 - 20 rows x 0.5 - the reveal
    assert_ledger_invariants(store)
