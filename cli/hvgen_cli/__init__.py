"""The ``hvgen`` command line (``hvgen``, or ``python -m hvgen_cli``).

The top layer: one module per command group; the commands parse options,
call the libraries (``healthvault``, the build step ``hvgen``,
``hvgen_server``, ``hvgen_imaging``) and print. Nothing imports this
package. Commands whose library needs an optional extra say which one to
install when it is missing, and import it only when they run.

Exceptions: none of its own. Commands turn the libraries' errors into one
line (``click.ClickException``); ``failures.py`` does the same for any a
command lets through.
"""

from __future__ import annotations

import click

from hvgen import __version__

from . import (
    app,
    bearer,
    blob,
    dicomnet,
    dicomnodes,
    dicompeers,
    fhirdata,
    generate,
    migrate,
    ohif,
    package,
    person,
    record,
    roundtrip,
    serve,
    study,
    thing,
    viewer,
)
from .failures import Main
from .terminal import warnings_as_messages

__all__ = ["main"]


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hvgen")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Typed bindings, runtime and tools for the HealthVault imaging wire format.

    \b
    Build step:
      hvgen generate            compile xsd/ + templates/ + runtime/ into generated/
      hvgen generate --check    fail if generated/ is out of date
    Inspecting XML:
      hvgen roundtrip FILE      decode a thing, data-xml root, request or
                                response through the bindings and write it back
    Local platform:
      hvgen serve --data DIR    run the local platform server (writes a client
                                profile so the commands below need no flags)
      hvgen migrate ...         move its store to PostgreSQL + S3, or back
      hvgen person ...          persons who sign in and authorize applications
      hvgen record ...          their records
      hvgen app ...             applications (an existing one keeps its id and certificate)
      hvgen viewer              open the study viewer in a browser, signed in (--print: the link)
    Working with a platform:
      hvgen study ...           upload, list, show, download and change studies
      hvgen package ...         drop off and pick up encrypted packages
      hvgen dicom listen        receive studies pushed by a modality or PACS (C-STORE)
      hvgen dicom send/query/retrieve   studies to and from other DICOM nodes
      hvgen dicom node ...      the nodes the platform knows (PACS, DICOMweb services)
      hvgen blob ...            hash, upload and download blobs
      hvgen thing ...           get, list, put, remove, sign and verify things
      hvgen token               a bearer token for the platform's DICOMweb service
      hvgen fhir ...            import FHIR R4 resources, export the record as NDJSON

    Every command that reports a result has --json for scripts. Progress
    bars go to stderr when it is a terminal (--no-progress turns them off).

    Run `hvgen COMMAND --help` for the details of each command.
    """
    ctx.with_resource(warnings_as_messages())


main.add_command(generate.generate)
main.add_command(roundtrip.roundtrip)
main.add_command(serve.serve)
main.add_command(migrate.migrate)
main.add_command(blob.blob)
main.add_command(thing.thing)
main.add_command(study.study)
main.add_command(package.package)
main.add_command(person.person)
main.add_command(record.record)
main.add_command(app.app)
main.add_command(bearer.token)
main.add_command(dicomnet.dicom)
dicomnet.dicom.add_command(dicomnodes.node)
for _command in (dicompeers.send, dicompeers.query, dicompeers.retrieve):
    dicomnet.dicom.add_command(_command)
main.add_command(viewer.viewer)
main.add_command(ohif.ohif)
main.add_command(fhirdata.fhir)
