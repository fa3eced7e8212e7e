"""Users and answers: reviewers by e-mail, annotations one by one or in bulk.

Part of :class:`~relabel.studio.client.StudioClient` (import it from there). Each
annotation carries a ``unique_id`` that the server refuses twice (HTTP 409), so a
retried create never makes a second answer.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Mapping

from relabel.errors import StudioError
from relabel.studio.models import choice_result
from relabel.studio.transport import StudioTransport, _HTTPError, _NotFoundError


class UserCalls(StudioTransport):
    """Find or create users; create, update and bulk-create annotations."""

    _users: dict[str, int]  # lower-case e-mail -> user id
    _emails: dict[int, str]  # user id -> e-mail as the server has it
    _users_lock: threading.Lock

    def ensure_user(self, email: str) -> int:
        """Return the id of the user with this e-mail address, creating it if needed.

        Users created here join the token owner's organization and have no password:
        they exist to be ``completed_by`` of annotations (simulated reviewers).
        """
        key = email.strip().lower()
        with self._users_lock:
            if key in self._users:
                return self._users[key]
            self._load_users()
            if key in self._users:
                return self._users[key]

            def attempt() -> int:
                user = self._sdk.users.create(email=email.strip(), username=email.strip())
                return int(user.id)  # type: ignore[arg-type]

            def reconcile() -> int | None:
                self._load_users()
                return self._users.get(key)

            try:
                uid = self._call(
                    f"creating user {email}", attempt, idempotent=False, reconcile=reconcile
                )
            except StudioError:
                self._load_users()  # created meanwhile by someone else?
                if key not in self._users:
                    raise
                uid = self._users[key]
            self._users[key] = uid
            self._emails[uid] = email.strip()
            return uid

    def user_emails(self, user_ids: set[int]) -> dict[int, str]:
        """The e-mail addresses of users by id (the users are listed once per unknown id).

        Ids the server does not know are left out.
        """
        with self._users_lock:
            if set(user_ids) - set(self._emails):
                self._load_users()
            return {u: self._emails[u] for u in user_ids if u in self._emails}

    def _load_users(self) -> None:
        users = self._call("listing users", lambda: self._sdk.users.list(), idempotent=True)
        for u in users:
            if getattr(u, "email", None) and u.id is not None:
                self._users[str(u.email).lower()] = int(u.id)
                self._emails[int(u.id)] = str(u.email)

    def create_annotation(
        self,
        task_id: int,
        choice: str | None,
        user_id: int,
        was_cancelled: bool = False,
    ) -> int:
        """Answer a task as ``user_id``; return the annotation id.

        A skip is ``was_cancelled=True`` (the choice is then ignored). The server records
        ``completed_by = user_id``; the token's owner must be allowed to write for that
        user (an administrator). Each call carries a ``unique_id``, so a retried call
        never creates a second annotation.
        """
        unique = str(uuid.uuid4())
        body = {
            "result": [] if was_cancelled else choice_result(choice),
            "completed_by": int(user_id),
            "was_cancelled": bool(was_cancelled),
            "unique_id": unique,
        }
        path = f"/api/tasks/{int(task_id)}/annotations/"
        what = f"answering task {task_id} as user {user_id}"

        def attempt() -> int:
            try:
                return int(self._raw_json("POST", path, json_body=body)["id"])
            except _HTTPError as exc:
                if exc.status == 409:  # our unique_id exists: an earlier attempt landed
                    found = self._find_annotation(task_id, user_id, was_cancelled)
                    if found is not None:
                        return found
                raise

        def reconcile() -> int | None:
            return None  # sending again is safe: a duplicate unique_id answers 409

        try:
            return self._call(what, attempt, idempotent=False, reconcile=reconcile)
        except _NotFoundError:
            raise StudioError(f"task {task_id} does not exist at {self.display_url}") from None

    def _find_annotation(self, task_id: int, user_id: int, was_cancelled: bool) -> int | None:
        task = self._get_json(f"reading task {task_id}", f"/api/tasks/{int(task_id)}/")
        mine = []
        for a in task.get("annotations") or []:
            cb = a.get("completed_by")
            uid = cb.get("id") if isinstance(cb, Mapping) else cb
            if uid == user_id and bool(a.get("was_cancelled")) == was_cancelled:
                mine.append(int(a["id"]))
        return max(mine) if mine else None

    def update_annotation(
        self, annotation_id: int, choice: str | None, *, was_cancelled: bool = False
    ) -> None:
        """Change an answer (or turn it into a skip)."""
        body = {
            "result": [] if was_cancelled else choice_result(choice),
            "was_cancelled": bool(was_cancelled),
        }
        try:
            self._call(
                f"updating annotation {annotation_id}",
                lambda: self._raw(
                    "PATCH", f"/api/annotations/{int(annotation_id)}/", json_body=body
                ),
                idempotent=True,
            )
        except _NotFoundError:
            raise StudioError(
                f"annotation {annotation_id} does not exist at {self.display_url}"
            ) from None

    def bulk_annotate(
        self, project_id: int, answers: Mapping[int, str], *, model_version: str | None = None
    ) -> int:
        """Answer many tasks at once as the token's user (demos and benchmarks).

        The answers are imported as predictions of a one-off model version, then turned
        into annotations by Label Studio's "predictions to annotations" action: thousands
        per second instead of about 20 per second with :meth:`create_annotation`. Not
        retried after an ambiguous failure.

        Returns
        -------
        int
            Annotations created.
        """
        if not answers:
            return 0
        version = model_version or f"relabel-bulk-{uuid.uuid4().hex[:8]}"
        ids = [int(t) for t in answers]
        created = 0
        for k in range(0, len(ids), 5000):
            part = ids[k : k + 5000]
            preds = [
                {
                    "task": t,
                    "model_version": version,
                    "score": 1.0,
                    "result": choice_result(answers[t]),
                }
                for t in part
            ]
            self._call(
                f"importing {len(preds)} prediction(s) into project {project_id}",
                lambda preds=preds: self._raw(
                    "POST", f"/api/projects/{int(project_id)}/import/predictions", json_body=preds
                ),
                idempotent=False,
                project_id=project_id,
            )
            resp = self._call(
                f"turning predictions into annotations in project {project_id}",
                lambda part=part: self._raw_json(
                    "POST",
                    "/api/dm/actions",
                    params={"id": "predictions_to_annotations", "project": str(project_id)},
                    json_body={
                        "model_version": version,
                        "selectedItems": {"all": False, "included": part},
                    },
                ),
                idempotent=False,
                project_id=project_id,
            )
            m = re.search(r"(\d+)", str(resp.get("detail", "")))
            created += int(m.group(1)) if m else len(part)
        return created
