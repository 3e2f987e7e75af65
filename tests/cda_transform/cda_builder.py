"""Small hand-written eHDSI Patient Summaries for focused tests (not a test module)."""

from __future__ import annotations

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:{pharm_prefix}="{pharm_ns}">
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.1.3"/>
  <id root="2.999.42" extension="{doc_id}"/>
  <code code="60591-5" codeSystem="2.16.840.1.113883.6.1" displayName="Patient summary Document"/>
  <title>Patient Summary</title>
  <effectiveTime value="20240101120000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25" displayName="normal"/>
  <languageCode code="de-AT"/>
  <recordTarget><patientRole>
    <id root="1.2.40.0.10.1.4.3.1" extension="1234567890" assigningAuthorityName="Sozialversicherung"/>
    <addr><streetAddressLine>Hauptstrasse 1</streetAddressLine><city>Wien</city><country>AT</country></addr>
    <telecom value="tel:+431234567" use="HP"/>
    <patient>
      <name><given>Anna</given><given>Maria</given><family>Huber</family></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1" displayName="Female"/>
      <birthTime value="19800215"/>
      <guardian><guardianPerson><name><given>Karl</given><family>Huber</family></name></guardianPerson></guardian>
    </patient>
  </patientRole></recordTarget>
  <author>
    <functionCode code="221" codeSystem="2.16.840.1.113883.2.9.6.2.7" displayName="Medical doctors"/>
    <time value="20240101"/>
    <assignedAuthor>
      <id root="2.999.7" extension="doc-1"/>
      <assignedPerson><name><given>Eva</given><family>Berger</family></name></assignedPerson>
      <representedOrganization>
        <id root="2.999.8" extension="org-1"/><name>Klinik Wien</name>
      </representedOrganization>
    </assignedAuthor>
  </author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="2.999.8" extension="org-1"/><name>Klinik Wien</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <component><structuredBody>
{sections}
  </structuredBody></component>
</ClinicalDocument>
"""

SECTION = """    <component><section>
      <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{display}"/>
      <title>{display}</title>
      <text>{text}</text>
{entries}
    </section></component>"""


def section(
    code: str, entries: str = "", text: str = "<paragraph>narrative</paragraph>", display: str = "S"
) -> str:
    return SECTION.format(code=code, display=display, text=text, entries=entries)


def document(
    *sections: str, pharm_prefix: str = "pharm", pharm_ns: str = "urn:hl7-org:pharm", doc_id: str = "doc-1"
) -> bytes:
    return HEADER.format(
        sections="\n".join(sections), pharm_prefix=pharm_prefix, pharm_ns=pharm_ns, doc_id=doc_id
    ).encode("utf-8")


def medication_entry(prefix: str = "pharm") -> str:
    p = prefix
    return f"""      <entry><substanceAdministration classCode="SBADM" moodCode="INT">
        <templateId root="1.3.6.1.4.1.12559.11.10.1.3.1.3.4"/>
        <id root="2.999.1.1"/>
        <text><reference value="#med-1"/></text>
        <statusCode code="active"/>
        <effectiveTime xsi:type="IVL_TS"><low value="20230105"/></effectiveTime>
        <effectiveTime xsi:type="PIVL_TS" operator="A"><period value="8" unit="h"/></effectiveTime>
        <routeCode code="20053000" codeSystem="0.4.0.127.0.16.1.1.2.1" displayName="Oral use"/>
        <doseQuantity value="1" unit="1"/>
        <consumable><manufacturedProduct><manufacturedMaterial>
          <name>Augmentin</name>
          <{p}:formCode code="10221000" codeSystem="0.4.0.127.0.16.1.1.2.1" displayName="Film-coated tablet"/>
          <{p}:asContent><{p}:containerPackagedProduct>
            <{p}:formCode code="30009000" codeSystem="0.4.0.127.0.16.1.1.2.1" displayName="Box"/>
          </{p}:containerPackagedProduct></{p}:asContent>
          <{p}:ingredient classCode="ACTI">
            <{p}:quantity><numerator xsi:type="PQ" value="500" unit="mg"/>
              <denominator xsi:type="PQ" value="1" unit="1"/></{p}:quantity>
            <{p}:ingredientSubstance><{p}:code code="J01CA04" codeSystem="2.16.840.1.113883.6.73"
              displayName="amoxicillin"/></{p}:ingredientSubstance>
          </{p}:ingredient>
          <{p}:ingredient classCode="ACTI">
            <{p}:quantity><numerator xsi:type="PQ" value="125" unit="mg"/>
              <denominator xsi:type="PQ" value="1" unit="1"/></{p}:quantity>
            <{p}:ingredientSubstance><{p}:code code="J01CR02" codeSystem="2.16.840.1.113883.6.73">
              <originalText><reference value="#ing-2"/></originalText></{p}:code></{p}:ingredientSubstance>
          </{p}:ingredient>
        </manufacturedMaterial></manufacturedProduct></consumable>
      </substanceAdministration></entry>"""


MED_TEXT = (
    '<paragraph ID="med-1">Augmentin 1 alle 8 Stunden</paragraph><content ID="ing-2">Clavulansäure</content>'
)
