"""The Benchmarks page and its plot files, on a report generated in the test."""
import pytest
from django.urls import include, path

from compression.evaluation import evaluator, report
from portal.urls import urlpatterns as portal_urlpatterns

from .conftest import make_photo

# The lead mounts the page in portal/urls.py; the test mounts it here on top of the portal's URLs
# (base.html links to them).
urlpatterns = [path("benchmarks/", include("compression.evaluation.urls")), *portal_urlpatterns]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


@pytest.fixture
def published(settings, tmp_path):
    specs, _ = evaluator.build_specs(["jpeg", "webp"], sweeps={"jpeg": (20, 60, 90), "webp": (20, 60, 90)})
    rows = evaluator.evaluate([("a.png", make_photo(40, 32))], specs, progress=False)
    out = tmp_path / "bench"
    results = report.write_report(rows, out, {"title": "Test", "dataset": "tiny", "images": 1, "notes": ["a note"]})
    settings.BENCHMARKS_DIR = out
    return results


def test_benchmarks_page_shows_the_bd_rate_table_and_the_plots(client, published):
    response = client.get("/benchmarks/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="bd-rate"' in html and "vs WEBP" in html and "vs JPEG" in html and "a note" in html
    jpeg_vs_webp = published["bd_rate"]["webp"]["jpeg"]["psnr"]
    assert f"{jpeg_vs_webp:+.1f} %" in html
    assert "/benchmarks/plots/rd_psnr.svg" in html and "/benchmarks/plots/rd_msssim.svg" in html


def test_benchmark_plots_are_served_from_the_report_folder(client, published):
    response = client.get("/benchmarks/plots/rd_psnr.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(response.streaming_content)
    assert "default-src 'none'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("name", ["results.json", "report.md", "nothing.svg", "..%2Fresults.json"])
def test_only_the_reports_own_plots_are_served(client, published, name):
    assert client.get(f"/benchmarks/plots/{name}").status_code == 404


def test_benchmarks_page_says_when_no_report_is_published(client, settings, tmp_path):
    settings.BENCHMARKS_DIR = tmp_path / "none"
    response = client.get("/benchmarks/")
    assert response.status_code == 200
    assert "No benchmark report has been published yet" in response.content.decode()
