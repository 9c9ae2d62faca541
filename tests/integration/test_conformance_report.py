"""The conformance reports (pyssl_conformance_report): JUnit XML and the HTML page,
from a small made-up run, written by the real Erlang writer and read back here."""
import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import conformance

from conftest import unique
from erlnode import ROOT, ErlNode

CONF_EBIN = ROOT / "_build" / "default" / "lib" / "pyssl_conformance" / "ebin"

# three scenarios, one of each verdict; names, reasons and results full of what
# XML and HTML must escape
FAKE = r"""Fake = #{total => 4, identical => 2, known => 1, unexpected => 1, modules => [ssl, pyssl],
    results => [
      #{name => plain_ok, area => options, verdict => identical, a => ok, b => ok, ms => {1, 2}},
      #{name => known_one, area => info, verdict => known_difference, a => {ok, [one]},
        b => {ok, [two]}, ms => {3, 4}, reason => "OpenSSL says <b>no</b> & \"that's\" it\x07"},
      #{name => '<script>alert(1)</script>', area => packet, verdict => different,
        a => {error, "<&>"}, b => <<"]]> & </pre>">>, ms => {5, 6}},
      #{name => {tuple, "name"}, area => options, verdict => identical, a => [1, 2], b => [1, 2],
        ms => {0, 0}}]}"""


@pytest.fixture(scope="module")
def erl(cookie):
    node = ErlNode(unique("erl"), cookie, args=["-pa", str(CONF_EBIN)])
    node.eval(FAKE)
    yield node
    node.stop()


def test_junit_is_well_formed_with_one_testcase_per_scenario(erl):
    root = ET.fromstring(erl.eval("pyssl_conformance_report:junit(Fake)"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == \
        ("4", "1", "1", "0")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["pyssl_conformance.options", "pyssl_conformance.info",
                                               "pyssl_conformance.packet"]
    assert sum(int(s.get("tests")) for s in suites) == 4
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"plain_ok", "known_one", "<script>alert(1)</script>", '{tuple,"name"}'}
    assert list(cases["plain_ok"]) == [] and cases["plain_ok"].get("time") == "0.003"
    assert cases["plain_ok"].get("classname") == "pyssl_conformance.options"


def test_junit_known_difference_is_skipped_with_its_reason(erl):
    root = ET.fromstring(erl.eval("pyssl_conformance_report:junit(Fake)"))
    case = next(c for c in root.iter("testcase") if c.get("name") == "known_one")
    # the control character in the reason comes out as text, not as a raw byte
    reason = "OpenSSL says <b>no</b> & \"that's\" it\\x{7}"
    assert case.find("skipped").get("message") == "known difference: " + reason
    prop = case.find("properties/property")
    assert (prop.get("name"), prop.get("value")) == ("known_difference", reason)
    assert "ssl: {ok,[one]}" in case.find("system-out").text
    assert case.find("failure") is None


def test_junit_unexpected_difference_is_a_failure_with_both_results(erl):
    root = ET.fromstring(erl.eval("pyssl_conformance_report:junit(Fake)"))
    case = next(c for c in root.iter("testcase") if c.get("name") == "<script>alert(1)</script>")
    failure = case.find("failure")
    assert failure.get("type") == "unexpected_difference"
    assert failure.get("message") == "ssl and pyssl results differ"
    assert 'ssl: {error,"<&>"}' in failure.text
    assert 'pyssl: <<"]]> & </pre>">>' in failure.text


def test_html_is_self_contained_and_has_one_row_per_scenario(erl):
    page = erl.eval("pyssl_conformance_report:html(Fake)")
    assert page.startswith(b"<!DOCTYPE html>")
    root = ET.fromstring(page)           # also well-formed XML
    rows = [tr for tr in root.iter("tr") if tr.get("id", "").startswith("s")]
    assert [tr.get("class") for tr in rows] == ["identical", "known_difference", "different", "identical"]
    # nothing loaded from elsewhere, nothing run
    assert not [e for e in root.iter() if e.get("src") or not (e.get("href") or "#").startswith("#")]
    assert root.find(".//script") is None and root.find(".//link") is None
    areas = [["".join(td.itertext()) for td in tr] for tr in root.find(".//table[@class='areas']/tbody")]
    assert areas == [["options", "2", "0", "0", ""], ["info", "1", "1", "0", "#2"],
                     ["packet", "1", "0", "1", "#3"]]
    summary = root.find(".//p[@class='summary']")
    assert "".join(summary.itertext()) == "4 scenarios, 2 identical, 1 known differences, 1 unexpected"


def test_html_escapes_names_results_and_reasons(erl):
    page = erl.eval("pyssl_conformance_report:html(Fake)")
    assert b"<script>" not in page and b"<b>no</b>" not in page
    root = ET.fromstring(page)
    rows = {tr.get("id"): tr for tr in root.iter("tr") if tr.get("id")}
    cells = list(rows["s3"])
    assert "".join(cells[1].itertext()) == "<script>alert(1)</script>"
    assert "".join(cells[4].itertext()) == '{error,"<&>"}'
    assert "".join(cells[5].itertext()) == '<<"]]> & </pre>">>'
    # the differing parts are marked, the common ones not
    marks_a = [m.text for m in cells[4].iter("mark")]
    assert marks_a == ['{error,"<&>"}']
    known = list(rows["s2"])
    assert [m.text for m in known[4].iter("mark")] == ["one"]
    assert [m.text for m in known[5].iter("mark")] == ["two"]
    reason = next(tr for tr in root.iter("tr") if "reason" in (tr.get("class") or ""))
    assert "".join(reason.itertext()) == "known difference: OpenSSL says <b>no</b> & \"that's\" it\\x{7}"


def test_write_makes_directories_and_reports_failures(erl, tmp_path):
    junit, html = tmp_path / "a" / "b" / "r.xml", tmp_path / "c" / "r.html"
    r = erl.eval(f'pyssl_conformance_report:write(Fake, [{{junit, "{junit}"}}, {{html, "{html}"}}])')
    assert r.name == "ok"
    ET.parse(junit)
    assert html.read_bytes().startswith(b"<!DOCTYPE html>")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = erl.eval(f'pyssl_conformance_report:write(Fake, [{{html, "{blocker}/r.html"}}])')
    # filelib:ensure_dir/1 finds a file where the directory should be
    assert r[0].name == "error" and r[1][1].name == "eexist"


def test_runner_writes_reports_when_asked(erl, tmp_path):
    junit, html = tmp_path / "run.xml", tmp_path / "run.html"
    r = erl.eval(f"""(fun() ->
        Scen = [{{same, fun(_) -> ok end, #{{area => demo}}}},
                {{differs, fun(M) -> M end, #{{area => demo}}}}],
        R = pyssl_conformance:run(Scen, [{{modules, [ssl, lists]}}, {{print, false}},
                                         {{junit, "{junit}"}}, {{html, "{html}"}}]),
        maps:get(reports, R) end)()""")
    assert r.name == "ok"
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    page = ET.parse(html).getroot()
    assert len([tr for tr in page.iter("tr") if (tr.get("id") or "").startswith("s")]) == 2


def test_make_conformance_report_paths(tmp_path):
    def ns(**kw):
        return argparse.Namespace(**{"no_reports": False, "junit": None, "html": None, **kw})
    default = conformance.report_paths(ns(), environ={})
    assert default == [("junit", (ROOT / "_build/conformance/conformance.xml").resolve()),
                       ("html", (ROOT / "_build/conformance/conformance.html").resolve())]
    env = {conformance.JUNIT_ENV: str(tmp_path / "e.xml"), conformance.HTML_ENV: str(tmp_path / "e.html")}
    assert conformance.report_paths(ns(), environ=env) == [("junit", tmp_path / "e.xml"),
                                                           ("html", tmp_path / "e.html")]
    flags = ns(junit=str(tmp_path / "f.xml"), html=str(tmp_path / "f.html"))
    assert conformance.report_paths(flags, environ=env)[0] == ("junit", tmp_path / "f.xml")
    assert conformance.report_paths(ns(no_reports=True), environ=env) == []
    # the default place is ignored by git
    assert Path(ROOT / ".gitignore").read_text().splitlines().count("_build/") == 1


def test_make_conformance_writes_both_reports_of_a_real_run(tmp_path):
    """bench.conformance end to end on one area, with its own bridge: the reports
    have one row / one testcase per scenario the summary line counts."""
    import re
    import subprocess
    import sys
    junit, html = tmp_path / "out" / "c.xml", tmp_path / "out" / "c.html"
    proc = subprocess.run([sys.executable, "-m", "bench.conformance", "--area", "format_error",
                           "--junit", str(junit), "--html", str(html)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    total = int(re.search(r"^(\d+) scenarios, ", proc.stdout, re.M).group(1))
    assert total > 10
    assert f"junit report: {junit}" in proc.stdout and f"html report: {html}" in proc.stdout
    root = ET.parse(junit).getroot()
    assert root.get("tests") == str(total) and len(list(root.iter("testcase"))) == total
    assert [s.get("name") for s in root.findall("testsuite")] == ["pyssl_conformance.format_error"]
    page = ET.parse(html).getroot()
    assert len([tr for tr in page.iter("tr") if (tr.get("id") or "").startswith("s")]) == total


def test_make_conformance_says_when_a_report_cannot_be_written(tmp_path):
    import subprocess
    import sys
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "bench.conformance", "--self-check", "--area",
                           "format_error", "--html", str(blocker / "c.html"), "--junit",
                           str(tmp_path / "c.xml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert f"cannot write the report {blocker}/c.html" in proc.stdout
