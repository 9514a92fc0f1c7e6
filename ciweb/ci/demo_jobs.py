"""The demo tenant's jobs: variants in Zuul 14.3's full shape, a project configuration with
full job dicts per pipeline, and the job graphs (with frozen jobs) a CI system would report.

Everything here is data derived from :data:`JOBS` and :data:`PIPELINE_JOBS`, so the job
pages, the project page, the job graph and freeze-job agree with one another.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEPENDENCIES",
    "HOST",
    "JOBS",
    "PIPELINE_JOBS",
    "frozen_job",
    "job_graph",
    "pipeline_job",
    "project_config",
    "variants",
]

HOST = "review.example.org"
CONFIG_PROJECT = "example/config"
JOBS_PROJECT = "zuul/zuul-jobs"

# name -> (parent, description, tags, extra variants as branch lists)
JOBS: dict[str, tuple[str | None, str, list[str], list[list[str]]]] = {
    "base": (None, "The base job of every job.\n\nSets up logs and nodes.", [], []),
    "unittests": ("base", "Run unit tests.", ["python"], []),
    "tox": ("unittests", "Run tox environments.\n\nSet tox_envlist.", ["python", "tox"], []),
    "tox-py311": ("tox", "Run tox with Python 3.11.", ["python", "tox"], [["stable/2024.1"]]),
    "tox-py312": ("tox", "Run tox with Python 3.12.", ["python", "tox"], []),
    "tox-linters": ("tox", "Run the linters.", ["lint"], []),
    "tox-docs": ("tox", "Build the documentation.", ["docs"], [["stable/2024.1"]]),
    "build-python-release": ("base", "Build sdist and wheel.", ["release"], []),
    "upload-pypi": ("build-python-release", "Upload a release to PyPI.", ["release"], []),
    "project1-functional": (
        "tox",
        "Functional tests of project1.",
        ["functional"],
        [["master"], ["stable/2024.1"]],
    ),
    "project1-integration": ("base", "Integration tests on two nodes.", ["integration"], []),
    "webapp-build": ("base", "Build the web application with npm.", ["javascript"], []),
    "webapp-lint": ("webapp-build", "Lint the web application.", ["javascript", "lint"], []),
}
PIPELINE_JOBS = {
    "check": ["tox-linters", "tox-py311", "tox-py312", "project1-functional", "tox-docs"],
    "gate": ["tox-linters", "tox-py311", "tox-py312", "project1-integration"],
    "post": ["build-python-release", "tox-docs"],
    "periodic": ["project1-functional", "webapp-build"],
}
# (pipeline, job) -> [(dependency, soft)]: the order the project's pipelines run jobs in.
DEPENDENCIES: dict[tuple[str, str], list[tuple[str, bool]]] = {
    ("check", "tox-py311"): [("tox-linters", False)],
    ("check", "tox-py312"): [("tox-linters", False)],
    ("check", "project1-functional"): [("tox-py311", False)],
    ("check", "tox-docs"): [("tox-linters", True)],
    ("gate", "tox-py311"): [("tox-linters", False)],
    ("gate", "tox-py312"): [("tox-linters", False)],
    ("gate", "project1-integration"): [("tox-py311", False), ("tox-py312", False)],
    ("post", "tox-docs"): [("build-python-release", True)],
}
_UBUNTU = {"name": "ubuntu-noble", "nodes": [{"name": "ubuntu-noble", "label": "ubuntu-noble"}]}
_ARM = {
    "name": "ubuntu-noble-arm64",
    "nodes": [{"name": "ubuntu-noble-arm64", "label": "ubuntu-noble-arm64"}],
}
_TWO_NODES = {
    "name": "two-node-noble",
    "nodes": [
        {"name": "controller", "label": "ubuntu-noble"},
        {"name": "compute", "label": "ubuntu-noble"},
    ],
    "groups": [
        {"name": "switch", "nodes": ["controller"]},
        {"name": "peers", "nodes": ["compute"]},
    ],
}


def _source(name: str, branch: str = "master") -> dict[str, Any]:
    project = CONFIG_PROJECT if name == "base" else JOBS_PROJECT
    path = "zuul.d/jobs.yaml"
    return {"project": project, "branch": branch, "path": path}


def _playbooks(name: str) -> dict[str, list[dict[str, Any]]]:
    source = _source(name)
    stem = name.split("-")[0] if name not in ("tox", "unittests") else name
    if name == "base":
        return {
            "pre_run": [{"path": "playbooks/base/pre.yaml", "source_context": source}],
            "post_run": [{"path": "playbooks/base/post-logs.yaml", "source_context": source}],
            "run": [],
        }
    return {"run": [{"path": f"playbooks/{stem}/run.yaml", "source_context": source}]}


def _specifics(name: str) -> dict[str, Any]:
    """The fields that make a job more than its parent's copy."""
    extra: dict[str, Any] = {}
    if name == "project1-integration":
        extra["nodeset"] = _TWO_NODES
        extra["semaphores"] = [{"name": "integration-lab", "resources_first": False}]
        extra["required_projects"] = [{"project_name": "example/project2"}]
        extra["voting"] = False
    elif name == "tox-docs":
        extra["files"] = [{"regex": "^doc/.*"}, {"regex": "^README\\.rst$"}]
        extra["provides"] = ["docs"]
        extra["failure_output"] = ["WARNING: .*"]
    elif name == "upload-pypi":
        extra["requires"] = ["python-release"]
        extra["post_review"] = True
    elif name == "webapp-build":
        # Zuul flattens nodeset alternatives into nodeset_alternatives (and no nodeset).
        extra["nodeset_alternatives"] = [_UBUNTU, _ARM]
        extra["include_vars"] = [{"name": "webapp-vars.yaml", "project_name": "example/webapp"}]
    elif name in ("tox", "unittests"):
        extra["irrelevant_files"] = [{"regex": "^doc/.*"}]
    if name.startswith("tox"):
        extra["variables"] = {"tox_envlist": name.removeprefix("tox-") if "-" in name else "py"}
    return extra


def _base_variant(name: str) -> dict[str, Any]:
    parent, description, tags, _branches = JOBS[name]
    variant: dict[str, Any] = {
        "name": name,
        "parent": parent,
        "description": description,
        "source_context": _source(name),
        "nodeset": _UBUNTU,
        "timeout": 3600,
        "post_timeout": 1800,
        "tags": tags,
        "abstract": name in ("base", "unittests", "tox"),
        "ansible_version": "9",
        **_playbooks(name),
        **_specifics(name),
    }
    if "nodeset_alternatives" in variant:
        del variant["nodeset"]
    return variant


def variants(name: str) -> list[dict[str, Any]]:
    """Return the reported variants of job *name*: its base and one per branch list."""
    base = _base_variant(name)
    out = [base]
    for branches in JOBS[name][3]:
        out.append(
            {
                **base,
                "branches": branches,
                "variant_description": f"branches: {', '.join(branches)}",
                "source_context": _source(name, branches[0]),
            }
        )
    return out


def pipeline_job(pipeline: str, name: str) -> dict[str, Any]:
    """Return the job dict of *name* as the project's *pipeline* runs it."""
    dependencies = [
        {"name": dep, "soft": soft} for dep, soft in DEPENDENCIES.get((pipeline, name), ())
    ]
    return {**_base_variant(name), "dependencies": dependencies, "source_context": None}


def project_config(project: str) -> dict[str, Any]:
    """Return *project*'s configuration stanza with every pipeline's jobs."""
    return {
        "source_context": {"project": project, "branch": "master", "path": "zuul.yaml"},
        "default_branch": "master",
        "merge_mode": "merge-resolve",
        "is_template": False,
        "templates": [],
        "queue_name": "integrated",
        "pipelines": [
            {
                "name": pipeline,
                "parameters": [],
                "jobs": [[pipeline_job(pipeline, job)] for job in jobs],
            }
            for pipeline, jobs in PIPELINE_JOBS.items()
        ],
    }


def frozen_job(tenant: str, pipeline: str, project: str, branch: str, name: str) -> dict[str, Any]:
    """Return job *name* frozen for a change to *project* on *branch* in *pipeline*."""
    variant = _base_variant(name)
    # Frozen, a job runs the pre-run playbooks of its parents first, their post-run last.
    base = _base_variant("base") if name != "base" else {}

    def playbooks(key: str) -> list[dict[str, Any]]:
        inherited = list(base.get(key, ()))
        own = list(variant.get(key, ()))
        return [
            {
                "connection": "gerrit",
                "project": pb["source_context"]["project"],
                "branch": "master",
                "trusted": pb["source_context"]["project"] == CONFIG_PROJECT,
                "path": pb["path"],
            }
            for pb in (own + inherited if key == "post_run" else inherited + own)
        ]

    return {
        "job": name,
        "branch": branch,
        "timeout": variant["timeout"],
        "post_timeout": variant["post_timeout"],
        "ansible_version": variant["ansible_version"],
        "pre_playbooks": playbooks("pre_run"),
        "playbooks": playbooks("run"),
        "post_playbooks": playbooks("post_run"),
        # A frozen job has one nodeset: the first of its alternatives.
        "nodeset": variant.get("nodeset") or variant["nodeset_alternatives"][0],
        "vars": variant.get("variables", {}),
        "secret_vars": None,
        "zuul": {
            "tenant": tenant,
            "pipeline": pipeline,
            "job": name,
            "branch": branch,
            "project": {"name": project, "canonical_name": f"{HOST}/{project}"},
            "jobtags": sorted(variant["tags"]),
        },
    }


def job_graph(tenant: str, pipeline: str, project: str, branch: str) -> dict[str, Any]:
    """Return the job graph report of *project* on *branch* in *pipeline*."""
    return {
        "pipeline": pipeline,
        "project": project,
        "branch": branch,
        "jobs": [
            {
                "name": job,
                "dependencies": pipeline_job(pipeline, job)["dependencies"],
                "frozen": frozen_job(tenant, pipeline, project, branch, job),
            }
            for job in PIPELINE_JOBS[pipeline]
        ],
    }
