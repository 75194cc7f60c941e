"""Reading and writing through the generated runtime API."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from healthvault import codec
from healthvault.bindings.methods.method_putthings2 import Info as PutThingsInfo
from healthvault.bindings.methods.request import AuthenticatedSessionInfo, Header
from healthvault.bindings.methods.response_getthings3 import Info as GetThingsResult
from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.bindings.things.file import File
from healthvault.codec import AnyElement
from healthvault.errors import HealthVaultDecodeWarning, HealthVaultXmlError

STUDY = (
    "<medical-image-study><when><date><y>2024</y><m>5</m><d>1</d></date></when>"
    "<series>{acq}<images><image-blob-name>1.2.3</image-blob-name></images>{series_extra}</series>"
    "{study_extra}</medical-image-study>"
)
V1_ONLY = STUDY.format(
    acq="<acquisition-datetime><date><y>2024</y><m>5</m><d>1</d></date></acquisition-datetime>",
    series_extra="<referring-physician><name><full>Dr A</full></name></referring-physician>",
    study_extra="",
)
V2_ONLY = STUDY.format(acq="", series_extra="", study_extra="<accession-number>A1</accession-number>")


def thing(type_id: str, data: str, common: str = "") -> bytes:
    return f"<thing><type-id>{type_id}</type-id><data-xml>{data}{common}</data-xml></thing>".encode()


def test_type_id_chooses_the_version() -> None:
    t1 = codec.read_thing(thing("c75651c8-548e-449f-8942-9e6379b0b88a", V1_ONLY))
    t2 = codec.read_thing(thing("cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d", V2_ONLY))
    assert isinstance(t1.data_xml[0].any_element, v1.MedicalImageStudy)
    assert isinstance(t2.data_xml[0].any_element, v2.MedicalImageStudy)
    assert t1.data_xml[0].any_element.series[0].referring_physician.name.full == "Dr A"
    assert t2.data_xml[0].any_element.accession_number == "A1"


def test_wrong_version_keeps_raw_xml_with_a_warning() -> None:
    data = thing("cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d", V1_ONLY)
    with pytest.warns(HealthVaultDecodeWarning, match="referring-physician"):
        t = codec.read_thing(data)
    assert isinstance(t.data_xml[0].any_element, AnyElement)
    assert codec.write_thing(t) == data


def test_bare_root_picks_the_version_that_holds_it() -> None:
    assert isinstance(codec.read_data(V1_ONLY), v1.MedicalImageStudy)
    assert isinstance(codec.read_data(V2_ONLY), v2.MedicalImageStudy)


def test_unknown_type_is_kept_raw_and_written_back() -> None:
    data = thing(
        "11111111-2222-3333-4444-555555555555",
        '<weight><value a="1">80<unit>kg</unit></value>tail</weight>',
        "<common><note>n</note></common>",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = codec.read_thing(data)
    assert isinstance(t.data_xml[0].any_element, AnyElement)
    assert t.data_xml[0].common.note == "n"
    assert codec.write_thing(t) == data


def test_extension_content_is_kept() -> None:
    ext = (
        '<common><extension source="urn:x" ver="1"><x:a xmlns:x="urn:x" k="v">1<x:b/>2</x:a>'
        "<plain>t</plain></extension><client-thing-id>c1</client-thing-id></common>"
    )
    data = thing("bd0403c5-4ae2-4b0e-a8db-1888678e4528", "<file><name>a.dcm</name><size>10</size></file>", ext)
    t = codec.read_thing(data)
    assert isinstance(t.data_xml[0].any_element, File)
    assert codec.write_thing(t) == data


def test_strict_mode_refuses_missing_and_mistyped_values() -> None:
    lax = thing("bd0403c5-4ae2-4b0e-a8db-1888678e4528", "<file><name>a</name><size>10</size></file>")
    assert codec.read_thing(lax, strict=True)
    bad_date = b"<thing><eff-date>2008-12-10 03:47:35.550</eff-date></thing>"
    assert codec.write_thing(codec.read_thing(bad_date)) == bad_date
    with pytest.raises(HealthVaultXmlError, match="eff-date|XmlDateTime|convert"):
        codec.read_thing(bad_date, strict=True)
    missing = b"<thing><thing-id>0a0a0a0a-0000-0000-0000-000000000000</thing-id></thing>"
    assert codec.write_thing(codec.read_thing(missing)) == missing
    with pytest.raises(HealthVaultXmlError, match="version-stamp"):
        codec.read_thing(missing, strict=True)


def test_request_parts_are_the_exact_wire_strings() -> None:
    header = Header(
        method="PutThings",
        method_version=2,
        record_id="0a0a0a0a-0000-0000-0000-000000000000",
        auth_session=AuthenticatedSessionInfo(auth_token="tok"),
        msg_time=dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC),
        msg_ttl=1800,
        version="hvgen/0.1",
    )
    study = codec.read_data(V2_ONLY)
    from healthvault.bindings.thing import DataXml, Thing2, ThingType

    info = PutThingsInfo(
        thing=[
            Thing2(type_id=ThingType(value=str(v2.MedicalImageStudy.TYPE_ID)), data_xml=[DataXml(any_element=study)])
        ]
    )
    parts = codec.request_parts(codec.RequestEnvelope(header=header, info=info))
    assert parts.header.startswith("<header><method>PutThings</method><method-version>2</method-version>")
    assert parts.info.startswith("<info><thing><type-id>cdfc0a9b") and "<medical-image-study>" in parts.info
    wire = parts.join()
    assert wire.startswith(b'<wc-request:request xmlns:wc-request="urn:com.microsoft.wc.request"><header>')
    assert parts.header.encode() in wire and parts.info.encode() in wire
    back = codec.read_request(wire)
    assert isinstance(back.info, PutThingsInfo)
    assert isinstance(back.info.thing[0].data_xml[0].any_element, v2.MedicalImageStudy)
    assert codec.write_request(back) == wire


def test_unknown_method_info_is_raw() -> None:
    wire = (
        b'<wc-request:request xmlns:wc-request="urn:com.microsoft.wc.request"><header><method>BeginPutBlob</method>'
        b"<method-version>1</method-version><app-id>0a0a0a0a-0000-0000-0000-000000000000</app-id>"
        b"<msg-time>2024-05-01T10:00:00Z</msg-time><msg-ttl>1800</msg-ttl><version>v</version></header><info/></wc-request:request>"
    )
    env = codec.read_request(wire)
    assert isinstance(env.info, AnyElement)
    assert codec.write_request(env) == wire


def test_request_envelope_order_is_enforced() -> None:
    wire = b'<wc-request:request xmlns:wc-request="urn:com.microsoft.wc.request"><info/><header/></wc-request:request>'
    with pytest.raises(HealthVaultXmlError, match="auth\\], header and info in that order"):
        codec.read_request(wire)


def test_response_info_decoded_by_namespace_and_things_typed() -> None:
    data = (
        b'<response><status><code>0</code></status><wc:info xmlns:wc="urn:com.microsoft.wc.methods.response.GetThings3">'
        b"<group><thing><type-id>cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d</type-id><data-xml>"
        + V2_ONLY.encode()
        + b"</data-xml></thing></group></wc:info></response>"
    )
    env = codec.read_response(data)
    assert env.status.code == 0
    assert isinstance(env.info, GetThingsResult)
    assert isinstance(env.info.group[0].thing[0].data_xml[0].any_element, v2.MedicalImageStudy)
    assert codec.write_response(env) == data


def test_error_response() -> None:
    data = b"<response><status><code>61</code><error><message>stale version-stamp</message></error></status></response>"
    env = codec.read_response(data)
    assert env.status.code == 61 and env.status.error.message == "stale version-stamp"
    assert env.info is None
    assert codec.write_response(env) == data


# -- what the codec issue measured: each case is reported and nothing changes -------------

BP = "ca3c57f4-f4c1-4e15-be67-0a3caf5414ed"
BP_OK = "<blood-pressure><when><date><y>2006</y><m>12</m><d>22</d></date></when><systolic>123</systolic><diastolic>68</diastolic></blood-pressure>"


@pytest.mark.parametrize(
    ("data_xml", "problem"),
    [
        (
            "<blood-pressure><when>0.7</when><systolic>1</systolic><diastolic>2</diastolic></blood-pressure>",
            "text '0.7'",
        ),
        (
            "<blood-pressure><systolic>1</systolic><when><date><y>2006</y><m>12</m><d>22</d></date></when><diastolic>2</diastolic></blood-pressure>",
            "out of place",
        ),
        (
            "<blood-pressure><systolic>1</systolic><diastolic>2</diastolic></blood-pressure>",
            "out of place|ends too early",
        ),
        (BP_OK.replace("<systolic>123", "<systolic>abc"), "'abc' is not a valid"),
        (BP_OK.replace("<systolic>", '<systolic unit="mmHg">'), "unexpected attribute unit"),
        (
            BP_OK.replace("</blood-pressure>", "<posture>seated</posture></blood-pressure>"),
            "unexpected element <posture>",
        ),
    ],
)
def test_data_xml_that_does_not_fit_is_kept_raw_with_a_warning_and_refused_when_strict(
    data_xml: str, problem: str
) -> None:
    data = thing(BP, data_xml, "<common/>")
    with pytest.warns(HealthVaultDecodeWarning, match=problem) as caught:
        t = codec.read_thing(data)
    assert "line 1" in str(caught[0].message)  # where, with the line
    assert isinstance(t.data_xml[0].any_element, AnyElement)
    assert codec.write_thing(t) == data  # nothing changed, nothing reordered
    with pytest.raises(HealthVaultXmlError, match=problem):
        codec.read_thing(data, strict=True)


def test_in_scope_namespace_declarations_are_kept() -> None:
    data = (
        b'<thing xmlns:x="urn:unused" xmlns:y="urn:y"><type-id>'
        + BP.encode()
        + b"</type-id><data-xml>"
        + BP_OK.encode()
        + b'<common><extension source="s"><y:a>1</y:a></extension></common></data-xml></thing>'
    )
    t = codec.read_thing(data, strict=True)
    assert codec.write_thing(t) == data


def test_bare_root_with_no_version_that_holds_it_is_kept_raw() -> None:
    both = STUDY.format(
        acq="",
        series_extra="<referring-physician><name><full>A</full></name></referring-physician>",
        study_extra="<accession-number>A1</accession-number>",
    )
    with pytest.warns(HealthVaultDecodeWarning, match="kept <medical-image-study> as raw XML"):
        root = codec.read_data(both)
    assert isinstance(root, AnyElement)
    assert codec.write_data(root) == both.encode()
    with pytest.raises(HealthVaultXmlError):
        codec.read_data(both, strict=True)


@pytest.mark.parametrize(
    "document",
    [
        b'<ContinuityOfCareRecord xmlns="urn:astm-org:CCR"><CCRDocumentObjectID>1</CCRDocumentObjectID></ContinuityOfCareRecord>',
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="2.16.840.1.113883.19.5"/></ClinicalDocument>',
    ],
)
def test_bare_root_in_another_namespace_is_kept_raw_not_refused(document: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        root = codec.read_data(document)
        assert isinstance(root, AnyElement)
        assert codec.write_document(codec.read_document(document)) == document
    from click.testing import CliRunner

    from hvgen_cli import main

    result = CliRunner().invoke(main, ["roundtrip", "-"], input=document)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.strip() == document


def test_a_value_set_by_the_program_is_checked() -> None:
    t = codec.read_thing(thing(BP, BP_OK))
    bp = t.data_xml[0].any_element
    with pytest.raises(HealthVaultXmlError, match="date-time|not a datetime"):
        t.eff_date = "yesterday"
    with pytest.raises(HealthVaultXmlError):
        bp.systolic = "abc"
    bp.systolic = 124
    assert b"<systolic>124</systolic>" in codec.write_thing(t)


def _response_of(*things: str) -> bytes:
    return (
        b'<response><status><code>0</code></status><wc:info xmlns:wc="urn:com.microsoft.wc.methods.response.GetThings3">'
        + b"<group>"
        + b"".join(t.encode() for t in things)
        + b"</group></wc:info></response>"
    )


def test_deferred_data_is_checked_when_first_read_and_warns_then() -> None:
    bad = "<blood-pressure><when>0.7</when><systolic>1</systolic><diastolic>2</diastolic></blood-pressure>"
    data = _response_of(
        f"<thing><type-id>{BP}</type-id><data-xml>{BP_OK}<common/></data-xml></thing>",
        f"<thing><type-id>{BP}</type-id><data-xml>{bad}<common/></data-xml></thing>",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is said on arrival
        env = codec.read_response(data, defer_data=True)
        good = env.info.group[0].thing[0].data_xml[0].any_element
    assert good.systolic == 123
    with pytest.warns(HealthVaultDecodeWarning, match="kept <blood-pressure> as raw XML.*text '0.7'"):
        kept = env.info.group[0].thing[1].data_xml[0].any_element
    assert isinstance(kept, AnyElement)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # decided once: read again, no second warning
        assert env.info.group[0].thing[1].data_xml[0].any_element is not None
    assert codec.write_response(env) == data
    # eagerly (the default), the warning comes on arrival; strict refuses on arrival either way
    with pytest.warns(HealthVaultDecodeWarning, match="text '0.7'"):
        codec.read_response(data)
    with pytest.raises(HealthVaultXmlError, match="text '0.7'"):
        codec.read_response(data, strict=True, defer_data=True)


def test_deferred_envelope_problems_still_come_on_arrival() -> None:
    data = _response_of(f"<thing><type-id>{BP}</type-id><surprise/><data-xml>{BP_OK}<common/></data-xml></thing>")
    with pytest.raises(HealthVaultXmlError, match="surprise"):
        codec.read_response(data, defer_data=True)


def test_fields_set_in_any_order_are_written_in_schema_order() -> None:
    """A value set after later ones goes where the schema puts it, also
    behind a trailing comment (which stays last)."""
    from lxml import etree

    from healthvault.schema import HashFinalized, HashFinalizedData

    header = Header(
        method="GetThings", method_version=3, msg_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), msg_ttl=60, version="v1"
    )
    header.msg_ttl = 1800  # replaced where it is
    header.version = "v2"  # replaced where it is
    header.record_id = "b0000000-0000-0000-0000-000000000001"
    element = header._el  # noqa: SLF001
    element.append(etree.Comment(" a note "))
    header.language = "en"
    header.info_hash = HashFinalized(hash_data=HashFinalizedData(value="aGk=", alg_name="SHA256"))
    tags = [c.tag if isinstance(c.tag, str) else "#" for c in element]
    assert tags == [
        "method", "method-version", "record-id", "language", "msg-time", "msg-ttl", "version", "info-hash", "#",
    ]  # fmt: skip
    assert element.findtext("msg-ttl") == "1800" and element.findtext("version") == "v2"


def test_cdata_sections_are_written_back_as_read() -> None:
    data = b"<file><name>a <![CDATA[<b> & c]]><!--n-->d</name><size><![CDATA[1]]></size></file>"
    file = codec.read_data(data, strict=True)
    assert file.name == "a <b> & cd" and file.size == 1
    file.size = file.size
    assert codec.write_data(file) == data
    file.name = "x"
    assert codec.write_data(file) == b"<file><name>x<!--n--></name><size><![CDATA[1]]></size></file>"
