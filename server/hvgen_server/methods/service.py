"""GetServiceDefinition: the platform's public configuration."""

from __future__ import annotations

from healthvault.bindings.methods.response_getservicedefinition2 import ConfigurationEntry, PlatformInfo
from healthvault.protocol import METHODS_PATH
from healthvault.schema import GetServiceDefinition2Result

from ..context import Context


def service_definition(ctx: Context) -> GetServiceDefinition2Result:
    config = ctx.config
    items = {
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
    return GetServiceDefinition2Result(
        platform=PlatformInfo(
            url=config.url + METHODS_PATH,
            version="hvgen local platform",
            configuration=[ConfigurationEntry(value=str(v), key=k) for k, v in items.items()],
        )
    )
