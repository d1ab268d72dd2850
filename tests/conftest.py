"""Shared fixtures: staff of every role, API clients, task running, and the environment rules.

Environment rules (see docs/operations.md, "Running the tests"):
* `@pytest.mark.postgres` tests need PostgreSQL (SIYU_TEST_DATABASE_URL). When the suite runs on
  SQLite and `make test` will run it again on PostgreSQL, they are deselected from the SQLite pass.
  Otherwise they skip with the reason, except under CI=true, where they fail.
* `@pytest.mark.redis` tests need Redis at SIYU_TEST_REDIS_URL; same rule.
* `@pytest.mark.browser` tests need Debian's Chromium; same rule.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.db import connection

from siyu.core.access import Actor, Role

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = (
    os.environ.get("SIYU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
REDIS_URL = os.environ.get("SIYU_TEST_REDIS_URL", "")


def _redis_reachable() -> bool:
    if not REDIS_URL:
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    on_postgres = connection.vendor == "postgresql"
    pg_pass_follows = os.environ.get("SIYU_POSTGRES_PASS_FOLLOWS") == "1"
    redis_ok = None
    keep, deselected = [], []
    for item in items:
        if item.get_closest_marker("postgres") and not on_postgres:
            if pg_pass_follows:
                deselected.append(item)
                continue
            reason = "needs PostgreSQL: set SIYU_TEST_DATABASE_URL=postgres://..."
            item.add_marker(_missing(reason))
        if item.get_closest_marker("redis"):
            if redis_ok is None:
                redis_ok = _redis_reachable()
            if not redis_ok:
                item.add_marker(
                    _missing(f"needs Redis at SIYU_TEST_REDIS_URL ({REDIS_URL or 'unset'})")
                )
        if item.get_closest_marker("browser") and not CHROMIUM:
            item.add_marker(_missing("needs Debian's Chromium (apt-get install chromium)"))
        keep.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


def _missing(reason: str):
    if CI:
        return pytest.mark.usefixtures("_fail_missing_service")
    return pytest.mark.skip(reason=reason)


@pytest.fixture
def _fail_missing_service(request):
    pytest.fail("a service this test needs is missing, and CI=true forbids skipping it")


@pytest.fixture(autouse=True)
def analytics_dir(settings, tmp_path):
    """Every test gets its own analytics directory (snapshot, segment index, locks): tests that
    shared var/analytics/ used to see each other's snapshots, and xdist workers raced on them."""
    settings.SIYU_ANALYTICS_DIR = str(tmp_path / "analytics")
    return tmp_path / "analytics"


# --- staff -----------------------------------------------------------------------------------------


@pytest.fixture
def store(db):
    from siyu.staff.models import Store

    return Store.objects.create(code="SH-01", name="上海一店", city="上海")


@pytest.fixture
def other_store(db):
    from siyu.staff.models import Store

    return Store.objects.create(code="HZ-01", name="杭州一店", city="杭州")


@pytest.fixture
def make_staff(db, store):
    from siyu.staff.models import User

    counter = {"n": 0}

    def make(role: str = Role.CLERK, *, store=store, username: str | None = None, **extra):
        counter["n"] += 1
        needs_store = role in (Role.STORE_MANAGER, Role.CLERK)
        user = User.objects.create_user(
            username=username or f"{role}{counter['n']}",
            password="pw-for-tests-1",
            role=role,
            store=store if needs_store else extra.pop("store_override", None),
            **extra,
        )
        return user

    return make


@pytest.fixture
def owner(make_staff):
    return make_staff(Role.OWNER, username="owner")


@pytest.fixture
def operator(make_staff):
    return make_staff(Role.OPERATOR, username="operator")


@pytest.fixture
def analyst(make_staff):
    return make_staff(Role.ANALYST, username="analyst")


@pytest.fixture
def store_manager(make_staff):
    return make_staff(Role.STORE_MANAGER, username="manager")


@pytest.fixture
def clerk(make_staff):
    return make_staff(Role.CLERK, username="clerk")


@pytest.fixture
def system_actor():
    return Actor.system("test")


def actor_of(user) -> Actor:
    return Actor.for_user(user)


@pytest.fixture
def api_client(db):
    """api_client(user) -> a test client that sends that user's bearer token."""
    from django.test import Client

    from siyu.staff.services import issue_api_token

    def make(user):
        _token, raw = issue_api_token(user, "tests", actor=Actor.system("test"))
        return Client(headers={"Authorization": f"Bearer {raw}"})

    return make


@pytest.fixture
def console_client(client):
    """console_client(user) -> the Django test client logged in as that user."""

    def make(user):
        client.force_login(user)
        return client

    return make


@pytest.fixture
def run_tasks(db):
    """Run every queued background task now (the database queue), as the worker would."""
    from unittest import mock

    from django.core.management import call_command

    def run():
        # The worker closes "old" connections between tasks; inside a test's transaction that
        # would close the test's own connection on PostgreSQL.
        with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
            call_command(
                "db_worker",
                "--batch",
                "--no-startup-delay",
                "--no-reload",
                "--queue-name",
                "*",
                verbosity=0,
            )

    return run


# --- browser ---------------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM:
        pytest.skip("needs Debian's Chromium")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(params=["zh-CN", "en-US"], ids=["zh", "en"])
def browser_locale(request):
    return request.param


@pytest.fixture
def page_for(browser, live_server):
    """page_for(locale) -> a fresh browser page against the live server, with that Accept-Language."""
    contexts = []

    def make(locale: str = "zh-CN", **context_args):
        context = browser.new_context(locale=locale, base_url=live_server.url, **context_args)
        context.set_default_timeout(30000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def login(page, username: str, password: str = "pw-for-tests-1") -> None:
    page.goto("/console/staff/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    # the login page is itself under /console/: wait until we have left it
    page.wait_for_url(lambda url: "/console/" in url and "/login/" not in url)
