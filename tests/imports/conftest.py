import pytest

from siyu.core.access import Actor


@pytest.fixture
def import_file(db, tmp_path):
    """import_file(path, preset, mapping="", dry_run=False) -> (job, report dict)."""
    from siyu.imports import services

    def run(path, preset, *, mapping="", dry_run=False, actor=None):
        job = services.import_path(
            path,
            preset=preset,
            actor=actor or Actor.system("tests"),
            mapping_text=mapping,
            dry_run=dry_run,
        )
        return job, services.report(job)

    return run


@pytest.fixture(autouse=True)
def _english():
    """Reasons and summaries are written in the active language (Chinese by default); these
    tests read them in English unless a test asks for Chinese."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Uploaded exports go to a temporary media root, never the developer's var/."""
    settings.MEDIA_ROOT = tmp_path / "media"
