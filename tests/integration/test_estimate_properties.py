"""Property (R23, R18): whatever the account already holds and whoever the request names, an estimate
charges nothing, the action it estimates then charges at most its `max` per credit type, and a
single-person action on someone the directory has the data for charges exactly `max`."""

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from backend.config import Settings
from backend.domain.credits import CreditType, to_milli
from backend.domain.errors import InvalidInput
from backend.jobs.runner import run_job
from backend.persistence.tables import LedgerEntry
from backend.services import (
    charge_guard,
    credits,
    directory,
    extension,
    jobs,
    list_exports,
    lists,
    people,
    post_exports,
    sequences,
    tracking,
)
from backend.services.people import PersonRef
from tests.integration.test_charge_rules import new_connection

SINGLE = ("reveal", "add_to_list", "crm_export", "list_and_crm", "enroll")

slots = st.lists(
    st.fixed_dictionaries(
        {
            "directory": st.sampled_from(["email", "phone", "both", "neither", "absent"]),
            "person": st.booleans(),  # already a person row, though nothing was ever charged for them
            "holds": st.lists(st.sampled_from(["email", "phone"]), unique=True, max_size=2),
            "by_teammate": st.booleans(),
            "tracked": st.sampled_from(["no", "yes", "disabled"]),
            "listed": st.booleans(),
        }
    ),
    min_size=1,
    max_size=4,
)
named = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["canonical", "spelling", "id"])), min_size=1, max_size=4
)
OPTIONS = {
    "reveal": st.fixed_dictionaries(
        {"fields": st.lists(st.sampled_from(["email", "phone"]), min_size=1, max_size=2)}
    ),
    "add_to_list": st.just({}),
    "crm_export": st.just({}),
    "list_and_crm": st.just({}),
    "enroll": st.fixed_dictionaries({"supplied": st.booleans()}),
    "post_export": st.fixed_dictionaries({"destination": st.sampled_from(["list", "csv"])}),
    "list_export": st.fixed_dictionaries({"include_phone": st.booleans()}),
    "track": st.just({}),
}
action = st.sampled_from(sorted(OPTIONS)).flatmap(lambda name: st.tuples(st.just(name), OPTIONS[name]))


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slots=slots, named=named, action=action, by_teammate=st.booleans())
def test_r23_r18_an_action_never_charges_more_than_its_estimate(
    store, world, db_url, slots, named, action, by_teammate
):
    name, options = action
    alice = world.account(email=50, phone=50, tracking=50)
    bob = world.teammate(alice)
    actor = bob if by_teammate else alice
    lid = store.run(lambda uow: lists.create(uow, alice, "L"))["id"]
    tag = uuid.uuid4().hex[:8]  # people of this example's own: none of them met an earlier example
    urls = [f"https://www.linkedin.com/in/p-{tag}-{i}" for i in range(len(slots))]
    for url, slot in zip(urls, slots, strict=True):
        _set_up(store, alice, bob, lid, url, slot)
    ids = store.run(lambda uow: people.find_many(uow, urls), write=False)
    refs = [_ref(urls[i % len(urls)], how, ids) for i, how in named]

    before = _state(store, alice)
    # what the route passes on: the action's options (an email the extension has is not one), and
    # for a list export the list itself
    estimate_options = {k: v for k, v in options.items() if k != "supplied"}
    if name == "list_export":
        estimate_options["list_id"] = lid
    estimate = store.run(lambda uow: credits.estimate(uow, actor, name, refs, estimate_options), write=False)
    assert _state(store, alice) == before, "the estimate charged"

    _act(store, db_url, actor, lid, name, options, refs)
    after = _state(store, alice)[0]
    charged = {t: before[0][t] - after[t] for t in CreditType}
    maximum = {t: to_milli(estimate["max"][str(t)]) for t in CreditType}
    assert all(charged[t] <= maximum[t] for t in CreditType), (charged, maximum)
    distinct = {urls[i % len(urls)] for i, _ in named}
    if name in SINGLE and len(distinct) == 1 and not options.get("supplied"):  # one person, found: exact
        slot = slots[urls.index(distinct.pop())]
        if all(slot["directory"] in (f, "both") for f in options.get("fields", ["email"])):
            assert charged == maximum


def _set_up(store, alice, bob, lid, url, slot) -> None:
    """One person's state, made the way the product makes it."""
    if slot["directory"] != "absent":
        has = {f: slot["directory"] in (f, "both") for f in ("email", "phone")}
        row = {"linkedin_url": url, "full_name": "P", "title": "T", "company": "C"}
        row |= {
            "email": "p@x.example" if has["email"] else None,
            "phone": "+15550001" if has["phone"] else None,
        }
        store.run(lambda uow: directory.import_people(uow, [row]))
    ref = PersonRef(linkedin_url=url)
    if slot["person"]:
        store.run(lambda uow: people.resolve(uow, ref))
    if slot["holds"]:
        extension.reveal_read_first(store, bob if slot["by_teammate"] else alice, ref, slot["holds"])
    if slot["tracked"] != "no":
        store.run(lambda uow: tracking.track(uow, alice, [ref]))
    if slot["tracked"] == "disabled":
        store.run(lambda uow: tracking.disable(uow, alice, [ref]))
    if slot["listed"]:  # a list entry the account need not hold the email of (an upload without options)
        store.run(lambda uow: lists.add_many(uow, alice, lid, [people.resolve(uow, ref).id]))


def _ref(url: str, how: str, ids: dict) -> dict:
    if how == "id" and url in ids:
        return {"person_id": ids[url].id}
    if how == "spelling":  # R1: the same person, as a tab's URL spells them
        return {"linkedin_url": url.replace("https://www.", "http://de.").upper() + "/details/experience/"}
    return {"linkedin_url": url}


def _state(store, actor):
    """(the balances, how many ledger entries): what a charge of any kind changes."""
    entries = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.account_id == actor.account_id)
    return store.run(
        lambda uow: (charge_guard.balances(uow, actor.account_id), uow.execute(entries).scalar_one()),
        write=False,
    )


def _act(store, db_url, actor, lid, name, options, refs) -> None:
    """The action as the product runs it: a bulk job to its end, tracking in one call, a single-person
    route once per person named, in order (as the extension loops over a selection)."""
    parsed = [PersonRef.parse(r) for r in refs]
    if name in ("post_export", "list_export"):
        job = store.run(lambda uow: _queue(uow, actor, lid, name, options, parsed))
        run_job(store, Settings(database_url=db_url), job["id"])
        assert store.run(lambda uow: jobs.row(uow, job["id"])).status == "succeeded"
        return
    if name == "track":
        store.run(lambda uow: tracking.track(uow, actor, parsed))
        return
    cid = new_connection(store, actor)
    seq = store.run(lambda uow: sequences.create(uow, actor, "S"))["id"]
    email = "given@x.example" if options.get("supplied") else None
    for ref in parsed:
        if name == "reveal":
            extension.reveal_read_first(store, actor, ref, options["fields"])
            continue
        run = {
            "add_to_list": lambda uow: extension.add_to_list(uow, actor, lid, ref),
            "crm_export": lambda uow: extension.crm_export(uow, actor, ref, cid),
            "list_and_crm": lambda uow: extension.list_and_crm(uow, actor, ref, lid, cid),
            "enroll": lambda uow: extension.enroll(uow, actor, seq, ref, email),
        }[name]
        try:
            store.run(run)
        except InvalidInput:  # R13: no email anywhere, so no enrollment and nothing charged
            assert name == "enroll"


def _queue(uow, actor, lid, name, options, parsed):
    if name == "list_export":
        return list_exports.queue(uow, actor, lid, options["include_phone"], False)
    urls = [p.linkedin_url or people.resolve(uow, p).linkedin_url for p in parsed]  # engagers have URLs
    engagers = [{"linkedin_url": url, "engagement": "like"} for url in urls]
    post = "https://www.linkedin.com/posts/x-1"
    return post_exports.queue(uow, actor, post, engagers, options["destination"], lid, False)
