"""Who is reviewing: the logged-in Airflow user, and whether Airflow's auth manager lets them decide.

Deciding needs the permission to edit the nightly DAG (``PUT`` on ``medscribe_nightly``): the simple auth
manager's User role and above, FAB's ``can_edit`` on the DAG, whatever a custom auth manager maps it to.
Reading needs only a login (``requires_authenticated``, applied to the whole app).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends

DAG_ID = "medscribe_nightly"


@dataclass(frozen=True)
class Reviewer:
    """The logged-in Airflow user as the pages need it.

    :param user_id: the auth manager's user id (binds the CSRF token).
    :param name: the user name recorded with each decision.
    :param may_edit: whether the auth manager lets the user edit the nightly DAG (and so decide).
    """

    user_id: str
    name: str
    may_edit: bool


def make_dependency():
    """A dependency giving the ``Reviewer``: Airflow's user, and its edit permission from the auth manager."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import get_user

    # defaults, not Annotated: with postponed annotations FastAPI resolves names in module globals only
    def reviewer(user=Depends(get_user)) -> Reviewer:  # noqa: B008
        may_edit = get_auth_manager().is_authorized_dag(
            method="PUT", details=DagDetails(id=DAG_ID), user=user
        )
        return Reviewer(user_id=str(user.get_id()), name=user.get_name(), may_edit=bool(may_edit))

    return reviewer
