"""GetServiceDefinition (versions 1 and 2): the platform's public configuration.

What an SDK reads when it connects: the method URL and the service's
version, the configuration items it sizes its requests by (blob URL
lifetimes, request size, full things per group...), the shell (its base URL
and the redirector ``/redirect.aspx`` with the targets it takes), the
methods offered and, in version 2, the one instance of the service.

Both versions take ``updated-date``: a caller that keeps the answer sends
the ``updated-date`` of the last one and gets an empty ``info`` when the
definition has not changed since. The definition changes when the server
is started with other limits, another URL or another set of methods; when
it last changed is kept in the store (:func:`changed_at`), so that every
server process of one store and every restart give the same time. Version
2 also takes ``response-sections``: only the sections named are returned
(``updated-date`` always is); the platform has no meaningful-use feature, so
that section is never present.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from healthvault.bindings.methods.method_getservicedefinition import Info as GetServiceDefinitionParams
from healthvault.bindings.methods.method_getservicedefinition2 import Info as GetServiceDefinition2Params
from healthvault.bindings.methods.response_getservicedefinition import Info as GetServiceDefinitionResult
from healthvault.bindings.methods.response_getservicedefinition2 import (
    ConfigurationEntry,
    Instance,
    InstanceList,
    PlatformInfo,
    ShellInfo,
    ShellRedirectToken,
    XmlMethod,
    XmlMethodVersion,
)
from healthvault.bindings.methods.response_getservicedefinition2 import Info as GetServiceDefinition2Result
from healthvault.protocol import METHODS_PATH, Method

from ..context import Context
from ..shell import REDIRECT_PATH, TARGETQS_PARAMETERS, TARGETS
from ..xmltime import timestamp

#: The version the platform reports.
PLATFORM_VERSION = "hvgen local platform"
#: The id of the one instance of the service (version 2's topology section).
INSTANCE_ID = "1"
#: Every section of version 2's answer.
SECTIONS = ("platform", "shell", "topology", "xml-over-http-methods", "meaningful-use")


def configuration(ctx: Context) -> dict[str, int]:
    """The configuration items, by the keys the SDKs read."""
    config = ctx.config
    return {
        "maxRequestUncompressedSizeBytes": config.max_request_bytes,
        "maxInlineBlobSizeBytes": config.inline_blob_limit,
        "blobChunkSizeBytes": config.chunk_size,
        "blobHashBlockSizeBytes": config.block_size,
        "maxBlobSizeBytes": config.max_blob_size,
        "blobStreamTokenTtlMs": int(config.blob_read_ttl * 1000),
        "blobStreamWriteTokenTtlMs": int(config.blob_write_ttl * 1000),
        "MaxFullThingResultsPerGroup": config.max_full_things,
        "maxGroupsPerRequest": config.max_groups,
        "sessionTokenTtlMs": int(config.session_ttl * 1000),
    }


def changed_at(ctx: Context, what: str, digest: str) -> float:
    """When ``what`` (whose content has ``digest``) last changed, to the
    millisecond: the first time the store saw this digest for it."""
    key = f"changed:{what}"
    with ctx.store.read() as tx:
        kept = tx.meta.get(key)
    if kept is not None:
        seen = json.loads(kept)
        if seen.get("digest") == digest:
            return float(seen["at"])
    at = math.floor(ctx.now * 1000) / 1000
    with ctx.store.write() as tx:
        tx.meta.set(key, json.dumps({"digest": digest, "at": at}))
    return at


def unchanged_since(given: dt.datetime | None, changed: float) -> bool:
    """Whether a caller that has the answer of ``given`` has the current one."""
    return given is not None and timestamp(given) >= changed


def _platform(ctx: Context) -> PlatformInfo:
    return PlatformInfo(
        url=ctx.config.url + METHODS_PATH,
        version=PLATFORM_VERSION,
        configuration=[ConfigurationEntry(value=str(v), key=k) for k, v in configuration(ctx).items()],
    )


def _shell(ctx: Context) -> ShellInfo:
    base = ctx.config.url
    return ShellInfo(
        url=base + "/",
        redirect_url=base + REDIRECT_PATH,
        redirect_token=[
            ShellRedirectToken(token=target, description=what, querystring_parameters=",".join(TARGETQS_PARAMETERS))
            for target, what in TARGETS.items()
        ],
    )


def _instances(ctx: Context) -> InstanceList:
    local = Instance(
        id=INSTANCE_ID,
        name="local",
        description=PLATFORM_VERSION,
        platform_url=ctx.config.url + METHODS_PATH,
        shell_url=ctx.config.url + "/",
    )
    return InstanceList(instance=[local], current_instance_id=INSTANCE_ID)


def _moment(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


@dataclass(frozen=True)
class ServiceDefinition:
    """The handlers of both versions, given the methods offered (the
    dispatch table, which names these handlers, hands them over)."""

    methods: Callable[[], Iterable[Method]]

    def offered(self) -> dict[str, list[int]]:
        """The methods offered, with their versions."""
        found: dict[str, list[int]] = {}
        for method in self.methods():
            found.setdefault(method.name, []).append(method.version)
        return {name: sorted(versions) for name, versions in sorted(found.items())}

    def _methods(self) -> list[XmlMethod]:
        return [
            XmlMethod(name=name, version=[XmlMethodVersion(number=str(v)) for v in versions])
            for name, versions in self.offered().items()
        ]

    def _updated(self, ctx: Context) -> float:
        full = {
            "url": ctx.config.url,
            "version": PLATFORM_VERSION,
            "configuration": configuration(ctx),
            "shell": sorted(TARGETS),
            "methods": self.offered(),
        }
        digest = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()
        return changed_at(ctx, "service-definition", digest)

    def version_2(self, ctx: Context) -> GetServiceDefinition2Result:
        """Version 2: the sections asked for (every one when none is named)."""
        info = ctx.request.info()
        assert info is None or isinstance(info, GetServiceDefinition2Params)
        changed = self._updated(ctx)
        if info is not None and unchanged_since(info.updated_date, changed):
            return GetServiceDefinition2Result()
        wanted = set(SECTIONS)
        if info is not None and info.response_sections is not None:
            wanted = {str(getattr(s, "value", s)) for s in info.response_sections.section}
        return GetServiceDefinition2Result(
            platform=_platform(ctx) if "platform" in wanted else None,
            shell=_shell(ctx) if "shell" in wanted else None,
            xml_method=self._methods() if "xml-over-http-methods" in wanted else [],
            instances=_instances(ctx) if "topology" in wanted else None,
            updated_date=_moment(changed),
        )

    def version_1(self, ctx: Context) -> GetServiceDefinitionResult:
        """Version 1 (older SDKs): every section it has."""
        info = ctx.request.info()
        assert info is None or isinstance(info, GetServiceDefinitionParams)
        changed = self._updated(ctx)
        if info is not None and unchanged_since(info.updated_date, changed):
            return GetServiceDefinitionResult()
        return GetServiceDefinitionResult(
            platform=_platform(ctx), shell=_shell(ctx), xml_method=self._methods(), updated_date=_moment(changed)
        )
