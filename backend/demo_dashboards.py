"""``make demo``: the safety engineer who reads the dashboards, and where to find them.

The demo creates ``demo-safety`` (role ``safety_engineer``) with a fresh random password through
``longtail backend people add`` (the password goes to ``<out>/demo-safety.password``, readable by
its owner only), and at the end prints the dashboard URLs on the demo's API port: the safety
case of the model the fleet runs after the loop (the champion), the release page of the loop's
candidate, and the operations page. The demo's backend stops with the demo; ``make serve``
(``longtail backend serve --config <out>/backend.toml``) serves the same database on the same
port again, and the URLs answer.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from backend.demo_labelling import serve_command

#: the demo's safety engineer, and the file (under the demo's output) that holds its password
SAFETY_ENGINEER = "demo-safety"
SAFETY_PASSWORD_FILE = "demo-safety.password"
#: the dashboards, under the API's origin
DASHBOARD_PATH = "/app/dashboard.html"


@dataclass(frozen=True)
class Login:
    name: str
    password_file: Path


def add_safety_engineer(cli: list[str], backend_toml: Path, out: Path) -> Login:
    """Create the demo's safety engineer with a random password, written to
    ``out/SAFETY_PASSWORD_FILE`` (mode 0600)."""
    password = secrets.token_urlsafe(15)
    subprocess.run(
        [
            *cli,
            "backend",
            "people",
            "add",
            SAFETY_ENGINEER,
            "--role",
            "safety_engineer",
            "--password-stdin",
            "--config",
            str(backend_toml),
        ],
        input=password + "\n",
        check=True,
        capture_output=True,
        text=True,
    )
    secret = out / SAFETY_PASSWORD_FILE
    secret.touch(mode=0o600)
    secret.write_text(password + "\n")
    return Login(SAFETY_ENGINEER, secret)


def released_version(loop: dict[str, Any]) -> str:
    """The model the fleet runs after the loop: the candidate if its canary was promoted, else
    the champion it started from."""
    rollout = loop.get("rollout") or {}
    return str(loop["candidate"] if rollout.get("state") == "promoted" else loop["champion"])


def dashboard_urls(api: str, loop: dict[str, Any]) -> dict[str, str]:
    """The dashboard pages for the demo's loop (``api``: the API's base URL)."""
    base = f"{api}{DASHBOARD_PATH}"
    return {
        "safety_case": f"{base}#/case?version={quote(released_version(loop))}",
        "release": f"{base}#/release?version={quote(str(loop['candidate']))}",
        "operations": f"{base}#/ops",
    }


def print_dashboards(api: str, backend_toml: Path, loop: dict[str, Any], login: Login) -> None:
    """Where the dashboards are, how to serve them again, and the login."""
    urls = dashboard_urls(api, loop)
    print(
        "\n".join(
            [
                "",
                f"the dashboards (serve the demo's backend again first: {serve_command(backend_toml)})",
                f"  safety case of the released model {released_version(loop)}: "
                f"{urls['safety_case']}",
                f"  release of the candidate {loop['candidate']}: {urls['release']}",
                f"  operations: {urls['operations']}",
                f"  log in as {login.name} (safety engineer; password in {login.password_file})",
            ]
        )
    )
