"""The deployment files hold together: no Docker or nginx runs here, so check what can be read."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from daybook.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_dockerfile_is_multi_stage_non_root_and_checks_health():
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2
    assert stages[-1][0] == "python:3.11-slim"
    assert re.search(r"^COPY --from=\w+", text, re.MULTILINE)
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n?.*urllib\.request.*/healthz", text, re.MULTILINE)
    assert "DAYBOOK_HOST=0.0.0.0" in text
    assert 'CMD ["gunicorn", "--config", "/app/gunicorn.conf.py"]' in text


def test_compose_runs_web_worker_postgres_and_redis():
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"web", "worker", "postgres", "redis", "migrate"} <= set(services)
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert services["worker"]["command"][:2] == ["daybook", "worker"]
    assert services["migrate"]["command"] == ["daybook", "db", "upgrade"]
    for name in ("web", "worker"):
        service = services[name]
        assert set(service["environment"]) >= {"DAYBOOK_DATABASE_URL", "DAYBOOK_REDIS_URL"}
        assert set(service["environment"]) <= {f"DAYBOOK_{key}" for key in SETTINGS}
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "data:/data" in service["volumes"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    assert set(compose["volumes"]) == {"data", "postgres", "redis"}


def test_nginx_forwards_client_headers_and_keeps_metrics_inside():
    text = (DEPLOY / "nginx" / "daybook.conf").read_text()
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Host"):
        assert re.search(rf"proxy_set_header {header} \$", text), header
    default_mb = SETTINGS["MAX_UPLOAD_MB"][0]
    assert f"client_max_body_size {default_mb}m;" in text
    assert re.search(r"location \^~ /metrics \{\s*deny all;", text)
    assert "return 301 https://" in text
    assert re.search(r"server 127\.0\.0\.1:8001", text) and re.search(r"127\.0\.0\.1:8002", text)


def test_web_template_unit_binds_its_instance_port():
    text = (DEPLOY / "systemd" / "daybook-web@.service").read_text()
    assert "DAYBOOK_PORT=%i" in text
    assert "gunicorn --config /opt/daybook/gunicorn.conf.py" in text
