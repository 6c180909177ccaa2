"""The installed libraries that parse hostile input are at least the versions with known fixes.

Each pin names the advisories its minimum fixes. Raise a pin when a new advisory lands; lower
one only with a reason written here. pyproject.toml's ranges may allow older releases; this is
what the environment under test (and so CI and the release build) actually runs.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

MINIMUM_SAFE = {
    # CVE-2023-26302, CVE-2023-26303 (crashes on crafted input) fixed in 2.2.0; 3.0 is the
    # release line Daybook's plugins and tests are written against.
    "markdown-it-py": "3.0.0",
    # The sanitiser. nh3 bundles ammonia; ammonia's advisories (RUSTSEC-2021-0074,
    # RUSTSEC-2025-0071 mutation XSS) need <svg>/<math> or raw-text tags allowed, which
    # Daybook never allows (tests/security/test_properties.py holds the allowlist to that).
    # 0.2.20 is the floor pyproject.toml declares.
    "nh3": "0.2.20",
    # ReDoS in lexers: CVE-2021-27291 (2.7.4), CVE-2022-40896 (2.15.0), CVE-2026-4539 (2.20.0).
    "pygments": "2.20.0",
    # Sandbox escapes: CVE-2024-56201, CVE-2024-56326 (3.1.5), CVE-2025-27516 (3.1.6).
    "jinja2": "3.1.6",
    # CVE-2024-49766, CVE-2024-49767 (3.0.6; the second a multipart memory DoS),
    # CVE-2025-66221 (3.1.4), CVE-2026-21860 (3.1.5), CVE-2026-27199 (3.1.6).
    "werkzeug": "3.1.6",
    # CVE-2025-47278 (3.1.1, signing with a fallback key), CVE-2026-27205 (3.1.3).
    "flask": "3.1.3",
    # CVE-2024-26130 (42.0.4), then OpenSSL in the wheels: GHSA-h4gh-qq45-vh27 (43.0.1),
    # CVE-2024-12797 (44.0.1), GHSA-537c-gmf6-5ccf (48.0.1).
    "cryptography": "48.0.1",
    # CVE-2024-53861 (2.10.1), CVE-2026-32597 (2.12.0), CVE-2026-48522 to -48526 (2.13.0).
    "pyjwt": "2.13.0",
    # Request smuggling: CVE-2024-1135 (22.0.0), CVE-2024-6827 (23.0.0).
    "gunicorn": "23.0.0",
    # CVE-2024-1681 (4.0.1), CVE-2024-6221 (4.0.2), CVE-2024-6839, CVE-2024-6844,
    # CVE-2024-6866 (6.0.0): CORS rules matched against the wrong path.
    "flask-cors": "6.0.0",
    # CVE-2024-3772: ReDoS in email validation (2.4.0).
    "pydantic": "2.4.0",
    # CVE-2024-3651: quadratic time in idna.encode() (3.7), reached through email-validator.
    "idna": "3.7",
}
# Installed only with the dev tools (through httpx), never by Daybook itself.
MINIMUM_SAFE_IF_INSTALLED = {
    # CVE-2025-43859: request smuggling through chunked-encoding line endings (0.16.0).
    "h11": "0.16.0",
}


@pytest.mark.parametrize(("package", "minimum"), sorted(MINIMUM_SAFE.items()))
def test_parsers_of_hostile_input_are_at_safe_versions(package, minimum):
    installed = Version(version(package))
    assert installed >= Version(minimum), (
        f"{package} {installed} is older than {minimum}, the first release with the fixes "
        f"listed in {Path(__file__).name}; upgrade it."
    )


@pytest.mark.parametrize(("package", "minimum"), sorted(MINIMUM_SAFE_IF_INSTALLED.items()))
def test_optional_dependencies_are_at_safe_versions_when_present(package, minimum):
    try:
        installed = Version(version(package))
    except PackageNotFoundError:
        pytest.skip(f"{package} is not installed")
    assert installed >= Version(minimum), f"{package} {installed} < {minimum}"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_pinned_package_is_a_dependency_of_daybook():
    # A pin on something Daybook no longer uses is noise; one it uses under another name is
    # a gap. Names are compared as the registry normalises them.
    declared = {
        dep.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
        for dep in _pyproject()["project"]["dependencies"]
    }
    indirect = {"jinja2", "werkzeug", "idna"}  # through Flask and email-validator
    assert set(MINIMUM_SAFE) - indirect <= declared


def test_ruff_selects_the_security_rules_for_the_package():
    lint = _pyproject()["tool"]["ruff"]["lint"]
    assert "S" in lint["select"], "ruff's S (flake8-bandit) rules must stay selected"
    assert "S" not in lint.get("ignore", [])
    # Only the tests and the benchmarks may drop the whole family; the package may not.
    for pattern, ignored in lint.get("per-file-ignores", {}).items():
        if "S" in ignored:
            assert pattern.startswith(("tests/", "bench/")), pattern


def test_ruff_reports_a_security_problem_in_package_code():
    # The effective configuration, excludes and per-file ignores included, on code that
    # would sit in the package: shell=True with a built command is S602.
    probe = "import subprocess\n\n\ndef run(name):\n    subprocess.call(f'ls {name}', shell=True)\n"
    ruff = str(Path(sys.executable).parent / "ruff")
    command = [ruff, "check", "--stdin-filename", "daybook/security_probe.py", "-"]
    result = subprocess.run(
        command, input=probe, capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert "S602" in result.stdout, result.stdout + result.stderr
