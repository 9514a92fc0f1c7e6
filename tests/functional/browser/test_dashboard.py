"""The Zuul 14.3.0 dashboard, unchanged, renders ciweb's demo tenant in a real browser.

Each test opens one dashboard page, waits for content that comes from the demo data (names,
results, counts), and fails on any failed request, error response or browser console error
(see conftest.PageProblems); a full-page screenshot is kept under test-artifacts/browser/.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.functional.browser.conftest import TENANT, Site

pytestmark = pytest.mark.timeout(120)

T = f"/t/{TENANT}"


def api(site: Site, path: str, **params: Any) -> Any:
    response = requests.get(f"{site.url}/api/tenant/{TENANT}/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def visible(page: Any, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(state="visible")


def test_the_tenants_page_lists_the_demo_tenant_with_its_links(page: Any, site: Site) -> None:
    page.goto(site.url + "/tenants")
    visible(page, TENANT)
    assert page.locator(f"a[href='{T}/status']").count() >= 1


def test_the_status_page_shows_live_pipelines_items_and_jobs(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/status")
    for pipeline in ("check", "gate"):
        visible(page, pipeline)
    visible(page, "integrated (master)")  # the gate's shared change queue
    page.locator("label.pf-c-switch", has_text="Expand all").click()
    visible(page, "example/project1")
    visible(page, "1201,")
    visible(page, "tox-py312")


def test_the_builds_page_lists_the_latest_builds(page: Any, site: Site) -> None:
    expected = api(site, "builds", limit=50, exclude_result="SKIPPED", complete="true")
    page.goto(site.url + f"{T}/builds")
    first = expected[0]
    visible(page, first["job_name"])
    page.locator(f"a[href*='/build/{first['uuid']}']").first.wait_for()
    assert page.locator("a[href*='/build/']").count() >= min(len(expected), 50) // 2


def test_the_builds_page_filters_by_job_name(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/builds?job_name=tox-docs")
    visible(page, "tox-docs")
    # The table first shows a placeholder row: wait until every row is a tox-docs build.
    page.wait_for_function(
        """() => {
            const rows = [...document.querySelectorAll("tbody tr")];
            return rows.length > 0 && rows.every(row => row.innerText.includes("tox-docs"));
        }"""
    )
    names = page.locator("tbody tr").all_inner_texts()
    assert names and all("tox-docs" in row for row in names), names


def test_the_build_page_shows_the_build_and_its_result(page: Any, site: Site) -> None:
    build = site.facts["build"]
    page.goto(site.url + f"{T}/build/{build['uuid']}")
    visible(page, build["job_name"])
    visible(page, build["result"])


def test_the_buildsets_page_lists_the_latest_buildsets(page: Any, site: Site) -> None:
    buildset = site.facts["buildset"]
    page.goto(site.url + f"{T}/buildsets")
    page.locator(f"a[href*='/buildset/{buildset['uuid']}']").first.wait_for()
    visible(page, buildset["refs"][0]["project"])


def test_the_buildset_page_shows_its_builds(page: Any, site: Site) -> None:
    buildset = api(site, f"buildset/{site.facts['buildset']['uuid']}")
    page.goto(site.url + f"{T}/buildset/{buildset['uuid']}")
    visible(page, buildset["pipeline"])
    for build in buildset["builds"][:3]:
        visible(page, build["job_name"])


def test_the_jobs_page_lists_every_job(page: Any, site: Site) -> None:
    jobs = api(site, "jobs")
    page.goto(site.url + f"{T}/jobs")
    for job in ("tox-py312", "project1-functional", "webapp-lint"):
        visible(page, job)
    assert len(jobs) == 13


def test_the_job_page_shows_the_variants_and_description(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/job/project1-functional")
    visible(page, "Functional tests of project1.")
    visible(page, "stable/2024.1")


def test_the_projects_page_lists_the_projects(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/projects")
    for name in ("example/project1", "example/webapp", "zuul/zuul-jobs"):
        visible(page, name)


def test_the_project_page_shows_its_pipelines_and_jobs(page: Any, site: Site) -> None:
    project = api(site, "project/example/project1")
    page.goto(site.url + f"{T}/project/{project['canonical_name']}")
    visible(page, "example/project1")
    visible(page, "check")
    visible(page, "tox-py311")


def test_the_config_errors_page_shows_the_errors(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/config-errors")
    visible(page, "Job tox-py310 not defined")
    visible(page, "example/project2")


def test_the_autoholds_page_shows_the_hold_request(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/autoholds")
    visible(page, "project1-functional")
    visible(page, "Debug the flaky functional test (jdoe)")


def test_the_console_of_a_running_build_shows_text_as_it_is_appended(page: Any, site: Site) -> None:
    from ciweb.ci import admin

    page.goto(site.url + f"{T}/stream/{site.running_build}?logfile=console.log")
    visible(page, "console line before the viewer came")
    for i in range(3):
        line = f"appended line {i} at {time.monotonic():.3f}"
        admin.append_console(site.store, TENANT, site.running_build, line + "\n")
        visible(page, line)
    admin.append_console(site.store, TENANT, site.running_build, "the end\n", end=True)
    visible(page, "END OF STREAM")


# -- the pages of the resources a CI system reports ------------------------------------------


def test_the_labels_page_lists_the_labels(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/labels")
    for label in api(site, "labels"):
        visible(page, label["name"])


def test_the_nodes_page_lists_the_nodes_and_a_node_page_shows_one(page: Any, site: Site) -> None:
    nodes = api(site, "nodes")
    held = next(n for n in nodes if n["state"] == "hold")
    page.goto(site.url + f"{T}/nodes")
    visible(page, held["id"])
    visible(page, held["comment"])
    page.goto(site.url + f"{T}/node/{held['id']}")
    visible(page, f"Node {held['id']}")
    visible(page, held["provider"])
    visible(page, held["interface_ip"])


def test_the_semaphores_page_and_a_semaphores_holders(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/semaphores")
    visible(page, "integration-lab")
    visible(page, "pypi-upload")
    page.goto(site.url + f"{T}/semaphore/integration-lab")
    visible(page, "Held By")
    page.locator("a", has_text="project1-integration").first.wait_for()


def test_an_autohold_page_shows_the_request(page: Any, site: Site) -> None:
    [hold] = api(site, "autohold")
    page.goto(site.url + f"{T}/autohold/{hold['id']}")
    visible(page, hold["reason"])
    visible(page, hold["ref_filter"])


def test_the_components_page_lists_the_components(page: Any, site: Site) -> None:
    page.goto(site.url + "/components")
    visible(page, "zs01.example.org")
    visible(page, "ze02.example.org")


def test_the_system_events_page_lists_the_events(page: Any, site: Site) -> None:
    page.goto(site.url + f"{T}/system-events")
    visible(page, "Full reconfiguration after a restart")


def test_the_nodepool_in_zuul_pages_show_providers_images_flavors_requests(
    page: Any, site: Site
) -> None:
    page.goto(site.url + f"{T}/providers")
    visible(page, "aws-us-east-1")
    page.locator("nav a", has_text="Images").first.wait_for()  # shown since info says niz
    page.goto(site.url + f"{T}/images")
    visible(page, "debian-bookworm")
    page.goto(site.url + f"{T}/image/ubuntu-noble")
    visible(page, "ami-0123456789abcdef0")
    page.goto(site.url + f"{T}/flavors")
    visible(page, "large")
    request = api(site, "nodeset-requests")[0]
    page.goto(site.url + f"{T}/nodeset-requests")
    visible(page, request["buildset_uuid"])
    visible(page, request["job_name"])


# -- job graphs --------------------------------------------------------------------------------


def test_the_project_page_draws_the_job_graph_of_a_pipeline_and_branch(
    page: Any, site: Site
) -> None:
    project = api(site, "project/example/project1")["canonical_name"]
    page.goto(site.url + f"{T}/project/{project}?pipeline=check&branch=stable/2024.1")
    graph = page.locator("#graphviz svg")
    graph.wait_for()
    for job in ("tox-linters", "tox-py311", "project1-functional", "tox-docs"):
        graph.locator("text", has_text=job).first.wait_for()


def test_the_freeze_job_page_shows_the_frozen_job(page: Any, site: Site) -> None:
    query = "pipeline=gate&project=example/project1&branch=master&job=project1-integration"
    page.goto(site.url + f"{T}/freeze-job?{query}")
    visible(page, "two-node-noble")
    visible(page, "playbooks/project1/run.yaml")


# -- the status page leads to live consoles ---------------------------------------------------


def test_a_running_job_on_the_status_page_streams_its_console(page: Any, site: Site) -> None:
    status = api(site, "status")
    check = status["pipelines"][0]["change_queues"][0]["heads"][0][0]
    running = next(j for j in check["jobs"] if j["uuid"] and j["result"] is None)
    page.goto(site.url + f"{T}/status/change/{check['refs'][0]['id']}")
    page.locator(f"a[href$='{running['url']}']").first.click()
    visible(page, f"Job console starting for {running['name']}")
    assert page.url.endswith(f"{T}/{running['url']}")


def test_a_finished_job_on_the_status_page_links_to_its_build(page: Any, site: Site) -> None:
    status = api(site, "status")
    check = status["pipelines"][0]["change_queues"][0]["heads"][0][0]
    done = next(j for j in check["jobs"] if j["result"] == "SUCCESS")
    page.goto(site.url + f"{T}/status/change/{check['refs'][0]['id']}")
    page.locator(f"a[href='{done['report_url']}']").first.click()
    visible(page, done["uuid"])
