"""Packaging: the owner's top-level folders become one installed package, `dxagent`.

`agent/` is `dxagent`, `checks/` is `dxagent.checks`, and so on (package_dir mapping), which
works for wheels and for default editable installs with setuptools >= 64.
"""

from setuptools import setup

PACKAGES = {
    "dxagent": "agent",
    "dxagent.config": "agent/config",
    "dxagent.daemon": "agent/daemon",
    "dxagent.daemon.statuspage": "agent/daemon/statuspage",
    "dxagent.history": "agent/history",
    "dxagent.defaults": "agent/defaults",
    "dxagent.i18n": "agent/i18n",
    "dxagent.checks": "checks",
    "dxagent.checks.discovery": "checks/discovery",
    "dxagent.checks.http": "checks/http",
    "dxagent.checks.snmp": "checks/snmp",
    "dxagent.checks.tls": "checks/tls",
    "dxagent.exporters": "exporters",
    "dxagent.alerts": "alerts",
    "dxagent.reports": "reports",
}

setup(
    packages=list(PACKAGES),
    package_dir=PACKAGES,
    package_data={
        "dxagent": ["schemas/*.json", "py.typed"],
        "dxagent.defaults": ["*.yml", "*.csv"],
        "dxagent.alerts": ["*.yml", "*.yaml", "*.json", "dashboards/*.json", "tests/*.yml"],
        "dxagent.reports": ["profiles/*.yml", "templates/*"],
        "dxagent.daemon.statuspage": ["templates/*"],
    },
    include_package_data=False,
)
