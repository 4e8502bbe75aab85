"""JUnit XML, for CI systems that display test results (GitHub, GitLab, Jenkins).

One ``<testsuite name="adamspec:<adapter>">`` inside ``<testsuites>``; one ``<testcase
classname="adamspec.<adapter>" name="<clause> <property>">`` per property verdict:

- fail → ``<failure message=...>`` with the counterexample block as its text;
- error → ``<error message=...>`` with the reason;
- not-applicable → ``<skipped message=reason>``;
- a property whose only failures are known deviations → ``<skipped type="known-deviation">``
  with their blocks as its text (as pytest reports an xfail), so that the XML's failures and
  errors agree with the run's verdict; beside a failure, the known deviations follow its block.

Warnings (stale deviation entries) go to the suite's ``<system-err>``.

The run's environment, adapter, profile, seed and verdict are ``<properties>`` of the suite.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from adamspec.conformance.report_text import counterexample_text, excused_text, total_seconds, variant_text
from adamspec.conformance.results import PropertyVerdict, RunResult

# characters XML 1.0 cannot carry at all, even escaped
_XML_ILLEGAL = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", str(text))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _body(v: PropertyVerdict) -> str:
    parts = [v.reason] if v.reason else []
    parts += [counterexample_text(cx) for cx in v.failures]
    parts += [excused_text(x) for x in v.excused]
    return "\n\n".join(parts)


def _message(v: PropertyVerdict) -> str:
    if v.counterexample is not None and v.counterexample.message:
        return v.counterexample.message
    return _first_line(v.reason) or v.verdict


def _testcase(suite: ET.Element, adapter: str, v: PropertyVerdict) -> str:
    """Append one testcase; return the JUnit outcome: passed, failure, error or skipped."""
    case = ET.SubElement(suite, "testcase", {
        "classname": _clean(f"adamspec.{adapter}"),
        "name": _clean(f"{v.clause} {v.property}"),
        "time": f"{v.seconds:.3f}",
    })
    if v.verdict == "pass" and v.excused:
        el = ET.SubElement(case, "skipped", {
            "type": "known-deviation",
            "message": _clean("known deviation " + "; ".join(f"{x.label}: {x.reason}" for x in v.excused)),
        })
        el.text = _clean(_body(v))
        return "skipped"
    if v.verdict == "fail":
        el = ET.SubElement(case, "failure", {"type": _clean(v.clause), "message": _clean(_message(v))})
        el.text = _clean(_body(v))
        return "failure"
    if v.verdict == "error":
        el = ET.SubElement(case, "error", {"type": "error", "message": _clean(_message(v))})
        el.text = _clean(_body(v))
        return "error"
    if v.verdict == "not-applicable":
        ET.SubElement(case, "skipped", {"message": _clean(v.reason or "not applicable")})
        return "skipped"
    return "passed"


def to_junit(result: RunResult) -> str:
    """The run as a JUnit XML document (UTF-8 text with an XML declaration)."""
    adapter = result.adapter
    tally = {"failure": 0, "error": 0, "skipped": 0}
    suites = ET.Element("testsuites", {"name": "adamspec"})
    suite = ET.SubElement(suites, "testsuite", {"name": _clean(f"adamspec:{adapter}")})
    props = ET.SubElement(suite, "properties")
    fixed = {"adapter": adapter, "profile": result.profile, "seed": result.seed, "verdict": result.verdict}
    fixed["variant"] = variant_text(result) or "canonical"  # SPEC VAR-1: every report states it
    for key, value in {**result.environment, **fixed}.items():
        ET.SubElement(props, "property", {"name": _clean(key), "value": _clean(value)})
    for v in result.verdicts:
        outcome = _testcase(suite, adapter, v)
        if outcome in tally:
            tally[outcome] += 1
    attrs = {
        "tests": str(len(result.verdicts)),
        "failures": str(tally["failure"]),
        "errors": str(tally["error"]),
        "skipped": str(tally["skipped"]),
        "time": f"{total_seconds(result):.3f}",
    }
    if result.warnings:
        ET.SubElement(suite, "system-err").text = _clean("\n".join(f"warning: {w}" for w in result.warnings))
    suite.attrib.update(attrs)
    suites.attrib.update({k: v for k, v in attrs.items() if k != "skipped"})
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
