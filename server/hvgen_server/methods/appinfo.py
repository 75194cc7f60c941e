"""GetApplicationInfo: the calling application as the platform knows it.

Its id and name, the action URL the shell sends a person back to, that
persons must authorize it before it reaches their records, and what an
authorization grants: on the local platform, reading and writing every
thing of the record, online and offline (the authorize page says so). The
published answer has no place for the application's certificate or keys;
the local platform has no logos, descriptions or child applications.
"""

from __future__ import annotations

import uuid

from healthvault.bindings.auth import Auth, AuthXml, Rule, Rules
from healthvault.bindings.methods.method_getapplicationinfo import Info as GetApplicationInfoParams
from healthvault.bindings.methods.response_getapplicationinfo import AppWithLogos
from healthvault.bindings.methods.response_getapplicationinfo import Info as GetApplicationInfoResult
from healthvault.bindings.wc_types import Permission
from healthvault.status import StatusCode

from ..context import Context
from ..errors import PlatformError

#: What a person's authorization lets an application do with a record's things.
GRANTED = (Permission.READ, Permission.UPDATE, Permission.CREATE, Permission.DELETE)


def _granted() -> AuthXml:
    return AuthXml(auth=Auth(rules=Rules(rule=[Rule(name="all-things", permission=list(GRANTED))])))


def get_application_info(ctx: Context) -> GetApplicationInfoResult:
    info = ctx.request.info()
    assert info is None or isinstance(info, GetApplicationInfoParams)
    if info is not None and info.child_app_id is not None:
        try:
            child = str(uuid.UUID(info.child_app_id.strip()))
        except ValueError:
            raise PlatformError(StatusCode.INVALID_APP, "child-app-id is not a GUID") from None
        if child != ctx.app_id:
            raise PlatformError(StatusCode.INVALID_APP, "the local platform has no child applications")
    app = ctx.store.application(ctx.app_id)
    if app is None:  # the session's application was removed from under it
        raise PlatformError(StatusCode.INVALID_APP, "unknown application")
    return GetApplicationInfoResult(
        application=AppWithLogos(
            id=app.app_id,
            name=[app.name],
            app_auth_required=True,
            restrict_app_users=False,
            is_published=False,
            action_url=app.action_url or None,
            person_online_base_auth_xml=_granted(),
            person_offline_base_auth_xml=_granted(),
            app_type="Web",
        )
    )
