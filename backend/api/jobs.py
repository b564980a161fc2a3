"""Background jobs: post exports (R14), list exports (R15/R16), job status and CSV downloads."""

from __future__ import annotations

import csv
import io

from flask import Response, current_app, stream_with_context
from flask_smorest import Blueprint

from backend.api.common import actor, read, run
from backend.api.limits import bulk
from backend.domain.csv_cells import neutralise
from backend.domain.errors import Conflict, NotFound
from backend.jobs.runner import KINDS
from backend.services import jobs, list_exports, post_exports
from schemas import jobs as s

blp = Blueprint("jobs", __name__, url_prefix="/v1", description="Background jobs and their CSV files")
PAGE = 2000


def _queued(job: dict) -> dict:
    current_app.extensions["queue"].enqueue(job["id"])
    return {"job": job}


@blp.route("/extension/post-exports", methods=["POST"])
@bulk
@blp.arguments(s.PostExportRequest())
@blp.response(202, s.JobAccepted)
def post_export(body):
    """Export a post's likers/commenters to a List (1 email credit per lead pulled) or to CSV (free)"""
    return _queued(
        run(
            lambda uow: post_exports.queue(
                uow,
                actor(),
                body["post_url"],
                body["engagers"],
                body["destination"],
                body.get("list_id"),
                body["allow_partial"],
            )
        )
    )


@blp.route("/lists/<list_id>/exports", methods=["POST"])
@blp.arguments(s.ListExportRequest())
@blp.response(202, s.JobAccepted)
def list_export(body, list_id):
    """Download a List as CSV: 1 email credit per lead not yet unlocked, +1 phone per phone found"""
    return _queued(
        run(
            lambda uow: list_exports.queue(
                uow, actor(), list_id, body["include_phone"], body["allow_partial"]
            )
        )
    )


@blp.route("/jobs/<job_id>", methods=["GET"])
@blp.response(200, s.JobSchema)
def get_job(job_id):
    """A job's status, progress, charges and, when done, its per-lead results"""
    return read(lambda uow: jobs.get(uow, actor(), job_id))


@blp.route("/jobs/<job_id>/download", methods=["GET"])
@blp.response(200, description="text/csv")
def download(job_id):
    """The job's CSV (post export to CSV, list export). Downloading again charges nothing."""
    job, columns = read(lambda uow: _downloadable(uow, job_id))
    store = current_app.extensions["store"]

    def lines():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        after = -1
        while page := store.run(lambda uow, a=after: jobs.outcome_page(uow, job.id, a, PAGE), write=False):
            for seq, outcome in page:
                writer.writerow([neutralise(outcome.get(c)) for c in columns])
                after = seq
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    return Response(
        stream_with_context(lines()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{job.kind}-{job.id}.csv"'},
    )


def _downloadable(uow, job_id: str):
    job = jobs.owned(uow, actor(), job_id)
    columns = KINDS[job.kind].csv_columns(job)
    if columns is None:
        raise NotFound("this job has no CSV file")
    if job.status != "succeeded":
        raise Conflict(f"the job is {job.status}; its CSV is ready when it has succeeded")
    return job, columns
